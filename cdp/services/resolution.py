"""Identity resolution rules (applied in memory by the ingestion path, `ingest.py`, under its locks).

Rules, in order:
1. Blocklisted values (built-in junk such as `test@example.com`, plus the tenant's list) are ignored for
   resolution and logged as `blocked`.
2. Identifiers that name no profile are attached to the resolved profile unless that would put more than the
   type's cap on it (logged as `capped`).
3. Identifiers that name several profiles merge them into the oldest one — unless the merged profile would
   exceed a cap (two different `external_id`s with the default cap of 1, say): then nothing merges and the
   profile named by the strongest identifier (external_id > email > phone > anonymous_id > others) wins.
Every decision is written to the append-only `IdentityLink` log; merges keep a snapshot for unmerge.
"""
from __future__ import annotations

from django.db.models import Count, Max, Q, Sum

from ..models import PURCHASE_EVENT, Event, Profile

PRIMARY_FIELDS = ("email", "phone", "external_id")
STAGE_RANK = {"anonymous": 0, "subscriber": 1, "lead": 2, "churned": 3, "customer": 4}
SNAPSHOT_FIELDS = ("external_id", "email", "phone", "lifecycle_stage", "traits")


def profile_totals_refresh(*, tenant, profile: Profile) -> None:
    """Recomputes total_orders, ltv, last purchase and last seen from the profile's events."""
    events = Event.objects.for_tenant(tenant).filter(profile=profile)
    totals = events.aggregate(
        orders=Count("id", filter=Q(event_type=PURCHASE_EVENT)),
        ltv=Sum("revenue", filter=Q(event_type=PURCHASE_EVENT)),
        last_purchase=Max("timestamp", filter=Q(event_type=PURCHASE_EVENT)),
        last_seen=Max("timestamp"),
    )
    profile.total_orders = totals["orders"] or 0
    profile.ltv = totals["ltv"] or 0
    profile.last_purchase_at = totals["last_purchase"]
    profile.last_seen_at = totals["last_seen"]
    profile.save(update_fields=["total_orders", "ltv", "last_purchase_at", "last_seen_at", "updated_at"])
