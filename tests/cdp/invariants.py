"""The CDP's invariants after any interleaving of ingestion, merges and unmerges (checked in SQL, both databases)."""
from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Q, Sum

from cdp.models import Event, Identity, Profile, ProfileRfm, SegmentMembership


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
    return problems
