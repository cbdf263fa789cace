"""Signal health: how far the tracking data can be believed, per ad account and for the tenant.

Four components, each 0–100, over a window of TRUST_SIGNAL_WINDOW_DAYS complete days ending yesterday (tenant
time zone). P / Rp are the conversions / revenue the platform reports for the account's campaigns in the
window, F / Rf the first-party conversions (CDP events `purchase` and `lead`) attributed to the account:

- pixel_coverage      = 100 × min(F, P) / P                                  (no data when P = 0)
- conversion_accuracy = 100 × mean(agreement(P, F), agreement(Rp, Rf)),  agreement(a, b) = min(a, b) / max(a, b)
                        (revenue left out when neither side has revenue; no data when P = F = 0)
- data_freshness      = 100 − staleness − lag − gaps                          (never synced: 0)
      staleness = 2 points per hour since the last successful sync beyond two expected sync intervals
                  (CAMPAIGNS_SYNC_INTERVAL_MINUTES), at most 50
      lag       = 15 points per day the newest data is older than yesterday, at most 45
      gaps      = 4 points per day without data between the first and newest day with data in the
                  last 30 days, at most 40
- api_health          = 100 × (1 − failed / attempts) over the sync attempts of the last 24 hours
                        (no data without attempts)

Attribution of a first-party conversion (only conversions that name where they came from are ad conversions):
`properties.ad_account_id` naming the account (its Stratum id or its platform id) → that account; else
`properties.utm_source` naming an ad platform (facebook/fb/instagram count as meta, adwords as google, snap as
snapchat) or else a platform click id (`fbclid` meta, `gclid` google, `ttclid` tiktok, `ScCid` snapchat) → that
platform's active accounts, shared in proportion to their P. Conversions without any of these (organic, direct,
e-mail …) match no account. A tenant without any attributed first-party conversion in the last 90 days has not set
up first-party tracking: coverage and accuracy have no data then (they are not zero).

Overall (account) = the weighted mean of the components that have data, weights WEIGHTS. Tenant: each component
is the mean over its active accounts, and the overall score the mean of the accounts' overall scores. Scores are
rounded half up. Status: healthy ≥ 70, degraded ≥ 40, unhealthy below, no_data without a score.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db.models import Case, CharField, Count, DecimalField, Q, Sum, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from campaigns.models import AdAccount, CampaignDailyMetric, Platform
from campaigns.selectors import data_freshness, sync_health
from campaigns.selectors.common import zone
from campaigns.selectors.health import THRESHOLDS, health_status
from cdp.models import Event

WEIGHTS = {"pixel_coverage": 0.30, "conversion_accuracy": 0.25, "data_freshness": 0.25, "api_health": 0.20}
CONVERSION_EVENTS = ("purchase", "lead")
TRACKING_LOOKBACK_DAYS = 90
SOURCE_ALIASES = {"facebook": "meta", "fb": "meta", "instagram": "meta", "ig": "meta", "adwords": "google",
                  "googleads": "google", "snap": "snapchat"}
AD_SOURCES = tuple(Platform.values) + tuple(SOURCE_ALIASES)
CLICK_IDS = (("fbclid", "meta"), ("gclid", "google"), ("ttclid", "tiktok"), ("ScCid", "snapchat"))

__all__ = ["THRESHOLDS", "WEIGHTS", "half_up", "health_status", "iso", "signal_health_compute", "signal_window"]


def half_up(value: float) -> int:
    """Scores are whole numbers, rounded half up (78.5 → 79)."""
    return math.floor(value + 0.5)


def iso(moment: dt.datetime | None) -> str | None:
    """A time as the API writes it (UTC, `Z`), for JSON columns."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def signal_window(*, tenant, now: dt.datetime) -> tuple[dt.date, dt.date, dt.datetime, dt.datetime]:
    """The complete days the conversion components look at: (first day, last day, start, end) in the tenant's
    time zone (end exclusive: midnight of today)."""
    tz = zone(tenant.timezone)
    today = now.astimezone(tz).date()
    first = today - dt.timedelta(days=settings.TRUST_SIGNAL_WINDOW_DAYS)
    last = today - dt.timedelta(days=1)
    return first, last, dt.datetime.combine(first, dt.time.min, tzinfo=tz), dt.datetime.combine(today, dt.time.min,
                                                                                               tzinfo=tz)


def _platform_conversions(*, tenant, account_ids, first: dt.date, last: dt.date) -> dict[str, tuple[float, float]]:
    rows = (CampaignDailyMetric.objects.for_tenant(tenant)
            .filter(date__range=(first, last), campaign__ad_account_id__in=account_ids)
            .values("campaign__ad_account_id")
            .annotate(conversions=Sum("conversions"), revenue=Sum("revenue")))
    return {str(r["campaign__ad_account_id"]): (float(r["conversions"] or 0), float(r["revenue"] or 0)) for r in rows}


def _attributed_events(*, tenant):
    """First-party conversions that say where they came from, each with `account_key`, `utm_source` (lower case)
    and `click_platform` annotated."""
    source = Lower(KT("properties__utm_source"))
    click = Case(*[When(properties__has_key=key, then=Value(platform)) for key, platform in CLICK_IDS],
                 default=Value(""), output_field=CharField())
    return (Event.objects.for_tenant(tenant).filter(event_type__in=CONVERSION_EVENTS)
            .annotate(account_key=KT("properties__ad_account_id"), utm_source=source, click_platform=click)
            .filter(Q(account_key__isnull=False) | Q(utm_source__in=AD_SOURCES) | ~Q(click_platform="")))


def _first_party_groups(*, tenant, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Attributed first-party conversions of the window, grouped by what attributes them (one query)."""
    money = DecimalField(max_digits=20, decimal_places=2)
    return list(_attributed_events(tenant=tenant).filter(timestamp__gte=start, timestamp__lt=end)
                .values("account_key", "utm_source", "click_platform")
                .annotate(n=Count("id"), revenue=Coalesce(Sum("revenue"), Value(0, output_field=money),
                                                          output_field=money)))


def _tracking_active(*, tenant, now: dt.datetime) -> bool:
    return _attributed_events(tenant=tenant).filter(
        timestamp__gte=now - dt.timedelta(days=TRACKING_LOOKBACK_DAYS)).exists()


def _share(amount: float, revenue: float, account_ids: list[str], platform: dict[str, tuple[float, float]],
           into: dict[str, list[float]]) -> None:
    if not account_ids:
        return
    weights = [platform.get(a, (0.0, 0.0))[0] for a in account_ids]
    total = sum(weights)
    for account_id, weight in zip(account_ids, weights, strict=False):
        part = weight / total if total else 1 / len(account_ids)
        into[account_id][0] += amount * part
        into[account_id][1] += revenue * part


def _attribute(*, accounts: list[dict], groups: list[dict],
               platform: dict[str, tuple[float, float]]) -> dict[str, list[float]]:
    by_key: dict[str, str] = {}
    by_platform: dict[str, list[str]] = defaultdict(list)
    for account in accounts:
        by_key[account["ad_account_id"]] = account["ad_account_id"]
        by_key.setdefault(account["external_id"], account["ad_account_id"])
        by_platform[account["platform"]].append(account["ad_account_id"])
    attributed: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for group in groups:
        count, revenue = float(group["n"]), float(group["revenue"] or 0)
        key = (group["account_key"] or "").strip()
        source = (group["utm_source"] or "").strip()
        source = SOURCE_ALIASES.get(source, source) if source in AD_SOURCES else group["click_platform"]
        if key and key in by_key:
            attributed[by_key[key]][0] += count
            attributed[by_key[key]][1] += revenue
        elif source:
            _share(count, revenue, by_platform.get(source, []), platform, attributed)
    return attributed


def _agreement(a: float, b: float) -> float:
    high = max(a, b)
    return 1.0 if high == 0 else min(a, b) / high


def freshness_score(row: dict) -> int:
    """The data_freshness component from campaigns' freshness figures of one account."""
    if row["last_synced_at"] is None:
        return 0
    interval_hours = settings.CAMPAIGNS_SYNC_INTERVAL_MINUTES / 60
    staleness = min(50.0, max(0.0, row["hours_since_sync"] - 2 * interval_hours) * 2)
    lag_days = row["reporting_lag_days"]
    lag = 45.0 if lag_days is None else min(45.0, max(0, lag_days - 1) * 15.0)
    gaps = min(40, 4 * len(row["missing_days"]))
    return half_up(max(0.0, min(100.0, 100 - staleness - lag - gaps)))


def _component(name: str, score: float | None, details: dict) -> dict:
    value = None if score is None else half_up(max(0.0, min(100.0, score)))
    return {"name": name, "score": value, "status": health_status(value), "weight": WEIGHTS[name], "details": details}


def weighted_overall(signals: list[dict]) -> int | None:
    measured = [s for s in signals if s["score"] is not None]
    if not measured:
        return None
    return half_up(sum(s["score"] * s["weight"] for s in measured) / sum(s["weight"] for s in measured))


def _account_health(*, fresh: dict, external_id: str, tracking: bool, platform: tuple[float, float],
                    first_party: list[float], sync: dict | None) -> dict:
    p, rp = platform
    f, rf = first_party
    conversions = {"platform_conversions": round(p, 2), "platform_revenue": round(rp, 2),
                   "first_party_conversions": round(f, 2), "first_party_revenue": round(rf, 2)}
    if not tracking:
        note = {**conversions, "note": "No attributed first-party conversion (purchase, lead naming an ad account, "
                                       "an ad platform or a click id) in the last 90 days."}
        coverage, accuracy = _component("pixel_coverage", None, note), _component("conversion_accuracy", None, note)
    else:
        coverage = _component("pixel_coverage", None if p == 0 else 100 * min(f, p) / p, conversions)
        if p == 0 and f == 0:
            accuracy_score = None
        elif rp > 0 or rf > 0:
            accuracy_score = 100 * (_agreement(p, f) + _agreement(rp, rf)) / 2
        else:
            accuracy_score = 100 * _agreement(p, f)
        accuracy = _component("conversion_accuracy", accuracy_score, conversions)
    freshness = _component("data_freshness", freshness_score(fresh), {
        "last_synced_at": iso(fresh["last_synced_at"]),
        **{key: fresh[key] for key in ("hours_since_sync", "latest_data_date", "reporting_lag_days", "missing_days",
                                       "last_sync_error")}})
    attempts = sync["attempts"] if sync else 0
    api = _component("api_health", 100 * (1 - sync["error_rate"]) if attempts else None,
                     {"sync_attempts_24h": attempts, "sync_failures_24h": sync["failed"] if sync else 0})
    signals = [coverage, accuracy, freshness, api]
    overall = weighted_overall(signals)
    return {"ad_account_id": fresh["ad_account_id"], "external_id": external_id, "name": fresh["name"],
            "platform": fresh["platform"], "overall_score": overall, "status": health_status(overall),
            "signals": signals}


def _tenant_signals(accounts: list[dict]) -> list[dict]:
    signals = []
    for name in WEIGHTS:
        scores = [s["score"] for a in accounts for s in a["signals"] if s["name"] == name and s["score"] is not None]
        signals.append(_component(name, sum(scores) / len(scores) if scores else None,
                                  {"accounts_measured": len(scores)}))
    return signals


def signal_health_compute(*, tenant, now: dt.datetime | None = None) -> dict[str, Any]:
    """Signal health of every active ad account and of the tenant, computed now (about eight queries, whatever
    the number of accounts and rows). Returns {overall_score, status, signals, accounts, thresholds, weights,
    window, computed_at}."""
    now = now or timezone.now()
    freshness = data_freshness(tenant=tenant, now=now)
    first, last, start, end = signal_window(tenant=tenant, now=now)
    base = {"thresholds": THRESHOLDS, "weights": WEIGHTS, "computed_at": now,
            "window": {"start_date": first.isoformat(), "end_date": last.isoformat()}}
    if not freshness:
        return {"overall_score": None, "status": health_status(None), "accounts": [],
                "signals": _tenant_signals([]), **base}
    ids = [row["ad_account_id"] for row in freshness]
    external = dict((str(pk), ext) for pk, ext in
                    AdAccount.objects.for_tenant(tenant).filter(pk__in=ids).values_list("pk", "external_id"))
    platform = _platform_conversions(tenant=tenant, account_ids=ids, first=first, last=last)
    tracking = _tracking_active(tenant=tenant, now=now)
    attributed = _attribute(
        accounts=[{"ad_account_id": r["ad_account_id"], "external_id": external.get(r["ad_account_id"], ""),
                   "platform": r["platform"]} for r in freshness],
        groups=_first_party_groups(tenant=tenant, start=start, end=end) if tracking else [], platform=platform)
    syncs = sync_health(tenant=tenant, since=now - dt.timedelta(hours=24))
    accounts = [_account_health(fresh=row, external_id=external.get(row["ad_account_id"], ""), tracking=tracking,
                                platform=platform.get(row["ad_account_id"], (0.0, 0.0)),
                                first_party=attributed.get(row["ad_account_id"], [0.0, 0.0]),
                                sync=syncs.get(row["ad_account_id"]))
                for row in freshness]
    overall = half_up(sum(a["overall_score"] for a in accounts) / len(accounts))
    return {"overall_score": overall, "status": health_status(overall), "accounts": accounts,
            "signals": _tenant_signals(accounts), **base}
