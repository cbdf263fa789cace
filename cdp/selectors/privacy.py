"""What the CDP holds about a person, for a subject export (and the privacy request reads)."""
from __future__ import annotations

from django.db.models import QuerySet

from ..models import (
    CONSENT_TRAITS,
    AudienceMember,
    Event,
    Identity,
    IdentityLink,
    PrivacyRequest,
    Profile,
    ProfileRfm,
    SegmentMembership,
)
from ..privacy_hooks import export_elsewhere


def privacy_requests(*, tenant) -> QuerySet:
    return PrivacyRequest.objects.for_tenant(tenant).order_by("-created_at", "-pk")


def consent_of(traits: dict | None) -> dict[str, bool | None]:
    """{purpose: true (given) | false (withdrawn) | null (never asked)} from a profile's `consent_<purpose>` traits."""
    traits = traits or {}
    return {purpose: traits.get(key) for purpose, key in CONSENT_TRAITS.items()}


def subject_export(*, tenant, profile_ids: list, identifiers: set) -> dict:
    """Every row held about these profiles (one person), as JSON-ready data; the apps above cdp add their sections."""
    profiles = []
    rows = Profile.objects.for_tenant(tenant).filter(pk__in=profile_ids).order_by("created_at", "pk")
    identities = _by_profile(Identity.objects.for_tenant(tenant).filter(profile_id__in=profile_ids)
                             .order_by("created_at", "pk").values("profile_id", "type", "value", "source", "created_at"))
    links = _by_profile(IdentityLink.objects.for_tenant(tenant).filter(profile_id__in=profile_ids)
                        .order_by("created_at", "pk").values("profile_id", "action", "identifier_type",
                                                             "identifier_value", "reason", "source", "created_at"))
    segments = _by_profile(SegmentMembership.objects.for_tenant(tenant).filter(profile_id__in=profile_ids)
                           .order_by("added_at", "pk").values("profile_id", "segment_id", "segment__name", "added_at",
                                                              "removed_at"))
    audiences = _by_profile(AudienceMember.objects.for_tenant(tenant).filter(profile_id__in=profile_ids)
                            .order_by("synced_at", "pk").values("profile_id", "audience_id", "audience__name",
                                                                "audience__platform", "synced_at"))
    rfm = {row["profile_id"]: row for row in ProfileRfm.objects.for_tenant(tenant).filter(profile_id__in=profile_ids)
           .values("profile_id", "recency_score", "frequency_score", "monetary_score", "segment", "computed_at")}
    for profile in rows:
        profiles.append({
            "id": profile.pk, "merged_into": profile.merged_into_id, "email": profile.email, "phone": profile.phone,
            "external_id": profile.external_id, "lifecycle_stage": profile.lifecycle_stage, "traits": profile.traits,
            "consent": consent_of(profile.traits), "total_orders": profile.total_orders, "ltv": profile.ltv,
            "last_purchase_at": profile.last_purchase_at, "last_seen_at": profile.last_seen_at,
            "created_at": profile.created_at, "updated_at": profile.updated_at,
            "identities": [_drop(i, "profile_id") for i in identities.get(profile.pk, [])],
            "identity_log": [_drop(i, "profile_id") for i in links.get(profile.pk, [])],
            "segments": [{"segment_id": m["segment_id"], "name": m["segment__name"], "added_at": m["added_at"],
                          "removed_at": m["removed_at"]} for m in segments.get(profile.pk, [])],
            "audiences": [{"audience_id": a["audience_id"], "name": a["audience__name"],
                           "platform": a["audience__platform"], "synced_at": a["synced_at"]}
                          for a in audiences.get(profile.pk, [])],
            "rfm": _drop(rfm[profile.pk], "profile_id") if profile.pk in rfm else None,
        })
    events = list(Event.objects.for_tenant(tenant).filter(profile_id__in=profile_ids).order_by("timestamp", "pk")
                  .values("id", "profile_id", "event_type", "timestamp", "properties", "revenue", "message_id",
                          "source", "received_at"))
    return {"profiles": profiles, "events": events, **export_elsewhere(tenant=tenant, profile_ids=profile_ids,
                                                                         identifiers=identifiers)}


def _by_profile(rows) -> dict:
    grouped: dict = {}
    for row in rows:
        grouped.setdefault(row["profile_id"], []).append(row)
    return grouped


def _drop(row: dict, key: str) -> dict:
    return {k: v for k, v in row.items() if k != key}
