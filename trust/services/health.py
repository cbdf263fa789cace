"""Storing signal health: every refresh is a snapshot (one row per active ad account plus one for the tenant);
a change of an account's status against its previous snapshot emits `signal.degraded` (worse) or
`signal.recovered` (better) through the outbox — the outbox's fan-out tells users (category signal_alerts).
An account's first snapshot is its baseline and announces nothing."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import AdAccount
from stratum.api.outbox import emit

from ..models import SignalHealthSnapshot, SignalStatus
from ..selectors.health import THRESHOLDS, WEIGHTS, health_status, iso, signal_health_compute

RANK = {SignalStatus.HEALTHY: 3, SignalStatus.DEGRADED: 2, SignalStatus.UNHEALTHY: 1, SignalStatus.NO_DATA: 0}


def _previous_accounts(*, tenant) -> dict[str, SignalHealthSnapshot]:
    latest = (SignalHealthSnapshot.objects.for_tenant(tenant).filter(ad_account__isnull=True)
              .order_by("-computed_at").values_list("run_id", flat=True).first())
    if latest is None:
        return {}
    return {str(s.ad_account_id): s for s in
            SignalHealthSnapshot.objects.for_tenant(tenant).filter(run_id=latest, ad_account__isnull=False)}


def _announce(*, tenant, account: dict, previous: SignalHealthSnapshot) -> None:
    if RANK[account["status"]] == RANK[previous.status]:
        return
    event = "signal.degraded" if RANK[account["status"]] < RANK[previous.status] else "signal.recovered"
    emit(tenant, event, {
        "scope": "ad_account", "ad_account_id": account["ad_account_id"], "name": account["name"],
        "platform": account["platform"], "previous_status": previous.status, "status": account["status"],
        "previous_score": previous.overall_score, "score": account["overall_score"],
        "signals": {s["name"]: s["score"] for s in account["signals"]},
    })


def signal_health_refresh(*, tenant, trigger: str = "schedule", now: dt.datetime | None = None) -> dict[str, Any]:
    """Computes and stores the signal health now; announces status changes. Returns the computed health with
    `run_id` (None when the tenant has no active ad account: nothing is stored then)."""
    health = signal_health_compute(tenant=tenant, now=now)
    if not health["accounts"]:
        return {**health, "run_id": None}
    run_id = uuid.uuid4()
    with transaction.atomic():
        previous = _previous_accounts(tenant=tenant)
        rows = [SignalHealthSnapshot(tenant=tenant, run_id=run_id, ad_account_id=a["ad_account_id"],
                                     computed_at=health["computed_at"], trigger=trigger,
                                     overall_score=a["overall_score"], status=a["status"], signals=a["signals"],
                                     details={"external_id": a["external_id"]})
                for a in health["accounts"]]
        rows.append(SignalHealthSnapshot(tenant=tenant, run_id=run_id, ad_account=None,
                                         computed_at=health["computed_at"], trigger=trigger,
                                         overall_score=health["overall_score"], status=health["status"],
                                         signals=health["signals"], details={"window": health["window"]}))
        SignalHealthSnapshot.objects.for_tenant(tenant).bulk_create(rows)
        for account in health["accounts"]:
            if account["ad_account_id"] in previous:
                _announce(tenant=tenant, account=account, previous=previous[account["ad_account_id"]])
    return {**health, "run_id": run_id}


def _from_snapshots(rows: list[SignalHealthSnapshot]) -> dict[str, Any]:
    tenant_row = next(r for r in rows if r.ad_account_id is None)
    accounts = sorted((r for r in rows if r.ad_account_id is not None),
                      key=lambda r: (r.ad_account.platform, r.ad_account.name, str(r.ad_account_id)))
    return {
        "overall_score": tenant_row.overall_score, "status": tenant_row.status, "signals": tenant_row.signals,
        "accounts": [{"ad_account_id": str(r.ad_account_id), "external_id": r.details.get("external_id", ""),
                      "name": r.ad_account.name, "platform": r.ad_account.platform, "overall_score": r.overall_score,
                      "status": r.status, "signals": r.signals} for r in accounts],
        "thresholds": THRESHOLDS, "weights": WEIGHTS, "window": tenant_row.details.get("window"),
        "computed_at": tenant_row.computed_at, "run_id": tenant_row.run_id,
    }


def signal_health_current(*, tenant, max_age: dt.timedelta | None = None) -> dict[str, Any]:
    """The latest stored signal health when it is recent enough (TRUST_SIGNAL_MAX_AGE_MINUTES) and covers
    every active account; otherwise a refresh now. Two or three queries when stored."""
    max_age = max_age if max_age is not None else dt.timedelta(minutes=settings.TRUST_SIGNAL_MAX_AGE_MINUTES)
    latest = (SignalHealthSnapshot.objects.for_tenant(tenant).filter(ad_account__isnull=True)
              .order_by("-computed_at").first())
    if latest is not None and latest.computed_at >= timezone.now() - max_age:
        rows = list(SignalHealthSnapshot.objects.for_tenant(tenant).filter(run_id=latest.run_id)
                    .select_related("ad_account"))
        active = set(AdAccount.objects.for_tenant(tenant).filter(is_active=True).values_list("pk", flat=True))
        if {r.ad_account_id for r in rows if r.ad_account_id is not None} == active:
            return _from_snapshots(rows)
    return signal_health_refresh(tenant=tenant, trigger="on_demand")


def account_signal(health: dict[str, Any], ad_account_id) -> dict[str, Any]:
    """One account's entry of a health result; an account without one (inactive, new) has no data."""
    key = str(ad_account_id)
    for account in health["accounts"]:
        if account["ad_account_id"] == key:
            return account
    return {"ad_account_id": key, "overall_score": None, "status": health_status(None), "signals": []}


def signal_summary(account: dict[str, Any], *, computed_at=None, run_id=None) -> dict[str, Any]:
    """What the audit log and actions keep of the signal a decision was made on."""
    return {"overall_score": account.get("overall_score"), "status": account.get("status", SignalStatus.NO_DATA),
            "signals": {s["name"]: s["score"] for s in account.get("signals", [])},
            "computed_at": iso(computed_at), "run_id": str(run_id) if run_id else None}
