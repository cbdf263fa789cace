"""Segment reads: preview (exact size + sample) and materialized members (for CRM push and exports)."""
from __future__ import annotations

from django.db.models import QuerySet

from ..models import Profile, Segment, SegmentMembership
from ..segmentation.compiler import segment_queryset

SAMPLE_SIZE = 10


def segment_preview(*, tenant, conditions) -> dict:
    """Exact size of the segment right now and up to 10 of its profiles (most recently updated first)."""
    matching = segment_queryset(tenant=tenant, conditions=conditions)
    return {
        "estimated_size": matching.count(),
        "sample_profiles": list(matching.order_by("-updated_at", "pk").select_related("rfm")
                                .prefetch_related("identities")[:SAMPLE_SIZE]),
    }


def segment_members(*, tenant, segment: Segment, change: str | None = None) -> QuerySet:
    """Profiles of the segment's materialized membership.

    `change=None`: current members; `"added"` / `"removed"`: those that joined / left at the last refresh.
    Used by the CRM push of the integrations app (with `segment_member_rows`).
    """
    if segment.last_refreshed_at is None and change:
        return Profile.objects.for_tenant(tenant).none()
    memberships = SegmentMembership.objects.for_tenant(tenant).filter(segment=segment)
    if change == "added":
        memberships = memberships.filter(removed_at__isnull=True, added_at__gte=segment.last_refreshed_at)
    elif change == "removed":
        memberships = memberships.filter(removed_at__gte=segment.last_refreshed_at)
    else:
        memberships = memberships.filter(removed_at__isnull=True)
    return (Profile.objects.for_tenant(tenant).filter(pk__in=memberships.values("profile_id"))
            .select_related("rfm").prefetch_related("identities").order_by("pk"))


def segment_member_rows(*, tenant, segment_id, change: str | None = None) -> list[dict]:
    """Plain dicts {profile_id, email, phone, external_id, traits} of a segment's members (CRM push)."""
    segment = Segment.objects.for_tenant(tenant).get(pk=segment_id)
    return [{"profile_id": str(pk), "email": email, "phone": phone, "external_id": external_id, "traits": traits}
            for pk, email, phone, external_id, traits in segment_members(tenant=tenant, segment=segment, change=change)
            .values_list("pk", "email", "phone", "external_id", "traits")]
