"""The CDP's invariants after any interleaving of ingestion, merges and unmerges (checked in SQL, both databases)."""
from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q, Sum

from cdp.models import Event, Identity, Journey, Profile, ProfileRfm, SegmentMembership
from cdp.services.journeys import journeys_catch_up, journeys_enabled, journeys_rebuild


def cdp_invariant_violations(tenant) -> list[str]:
    """What is wrong with the tenant's CDP data; empty when every invariant holds."""
    problems = []
    profiles = Profile.objects.for_tenant(tenant)
    merged = profiles.filter(merged_into__isnull=False)
    for model, label in ((Identity, "identities"), (Event, "events"), (ProfileRfm, "RFM scores")):
        stranded = model.objects.for_tenant(tenant).filter(profile__merged_into__isnull=False).count()
        if stranded:
            problems.append(f"{stranded} {label} on merged profiles")
    active = SegmentMembership.objects.for_tenant(tenant).filter(profile__merged_into__isnull=False,
                                                                 removed_at__isnull=True).count()
    if active:
        problems.append(f"{active} active segment memberships of merged profiles")
    chained = merged.filter(merged_into__merged_into__isnull=False).count()
    if chained:
        problems.append(f"{chained} merged profiles point at a profile that is merged itself (chain not collapsed)")
    live = profiles.filter(merged_into__isnull=True).annotate(
        orders=Count("events", filter=Q(events__event_type="purchase")),
        revenue=Sum("events__revenue", filter=Q(events__event_type="purchase")))
    for profile in live:
        if profile.total_orders != profile.orders or profile.ltv != (profile.revenue or Decimal(0)):
            problems.append(f"profile {profile.pk}: totals {profile.total_orders}/{profile.ltv}, "
                            f"events say {profile.orders}/{profile.revenue or 0}")
    problems += journey_violations(tenant)
    return problems


JOURNEY_FIELDS = ("profile_id", "converted_at", "revenue", "path", "touch_count", "first_touch", "last_touch",
                  "touch_times")


def journey_rows(tenant) -> list[tuple]:
    rows = Journey.objects.for_tenant(tenant).values_list(*JOURNEY_FIELDS)
    return sorted((tuple(str(v) if k == "touch_times" else v for k, v in zip(JOURNEY_FIELDS, row, strict=True))
                   for row in rows), key=repr)


class _Rollback(Exception):
    pass


def journey_violations(tenant) -> list[str]:
    """The attribution journeys, once the pending marks are caught up, differ from a from-scratch rebuild (computed in
    a transaction rolled back)."""
    if not journeys_enabled():
        return []
    journeys_catch_up(tenant=tenant)
    kept = journey_rows(tenant)
    rebuilt: list[tuple] = []
    try:
        with transaction.atomic():
            journeys_rebuild(tenant=tenant)
            rebuilt.extend(journey_rows(tenant))
            raise _Rollback
    except _Rollback:
        pass
    if kept == rebuilt:
        return []
    missing, extra = [r for r in rebuilt if r not in kept], [r for r in kept if r not in rebuilt]
    return [f"journeys differ from a rebuild: {len(missing)} missing (e.g. {missing[:1]}), "
            f"{len(extra)} stale (e.g. {extra[:1]})"]
