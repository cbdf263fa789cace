"""Profile reads: lookups other apps use, search, statistics."""
from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from stratum.api.exceptions import NotFound

from ..identifiers import normalize_value
from ..models import PURCHASE_EVENT, Event, Identity, IdentityLink, LifecycleStage, Profile, ProfileRfm, RfmSegment


def live_profiles(*, tenant) -> QuerySet:
    """Profiles that were not merged away into another one."""
    return Profile.objects.for_tenant(tenant).filter(merged_into__isnull=True)


def profile_find(*, tenant, profile_id) -> Profile | None:
    """The profile with this id — or, for an id that lost a merge, the profile it was merged into — or None."""
    profile = Profile.objects.for_tenant(tenant).filter(pk=profile_id).first()
    if profile is None:
        return None
    if profile.merged_into_id:
        profile_id = profile.merged_into_id
    return Profile.objects.for_tenant(tenant).select_related("rfm").prefetch_related("identities").get(pk=profile_id)


def profile_live_id(*, tenant, profile_id):
    """The id of the live profile this id names (itself, or the profile it was merged into), or None: one indexed
    read, for filters that need the id and not the profile."""
    row = Profile.objects.for_tenant(tenant).filter(pk=profile_id).values_list("merged_into_id", flat=True)[:1]
    found = list(row)
    if not found:
        return None
    return found[0] or profile_id


def profile_get(*, tenant, profile_id) -> Profile:
    """`profile_find`, or 404."""
    profile = profile_find(tenant=tenant, profile_id=profile_id)
    if profile is None:
        raise NotFound("Profile not found.")
    return profile


def profile_find_by_email(*, tenant, email: str) -> Profile | None:
    """The live profile that has this e-mail as an identity (normalized: trimmed, lower-cased), or None."""
    try:
        value = normalize_value("email", email)
    except ValueError:
        return None
    identity = Identity.objects.for_tenant(tenant).filter(type="email", value=value).select_related("profile").first()
    return identity.profile if identity is not None else None


# Long IN lists go in chunks: SQLite refuses more than 32,766 bound parameters in one statement.
IN_LIST_CHUNK = 10_000


def _normalized_emails(emails: list[str]) -> list[str]:
    normalized = {}
    for email in emails:
        try:
            normalized[normalize_value("email", email)] = None
        except ValueError:
            continue
    return list(normalized)


def profile_ids_by_email(*, tenant, emails: list[str]) -> dict[str, object]:
    """{email: id of the profile that has it as an identity} (normalized keys; unknown e-mails are left out).

    One query per 10,000 e-mails, for linking many records to their profiles at once.
    """
    values = _normalized_emails(emails)
    found = {}
    for start in range(0, len(values), IN_LIST_CHUNK):
        chunk = values[start:start + IN_LIST_CHUNK]
        found.update(Identity.objects.for_tenant(tenant).filter(type="email", value__in=chunk)
                     .values_list("value", "profile_id"))
    return found


def purchase_counts_by_email(*, tenant, emails: list[str]) -> dict[str, int]:
    """{email: number of purchase events} for the given e-mails (normalized keys; unknown e-mails -> 0).

    One query per 10,000 e-mails: e-mail identities joined to their profiles' purchase events.
    """
    values = _normalized_emails(emails)
    normalized = dict.fromkeys(values, 0)
    for start in range(0, len(values), IN_LIST_CHUNK):
        normalized.update(Identity.objects.for_tenant(tenant)
                          .filter(type="email", value__in=values[start:start + IN_LIST_CHUNK])
                          .annotate(n=Count("profile__events", filter=Q(profile__events__event_type=PURCHASE_EVENT)))
                          .values_list("value", "n"))
    return normalized


def profiles_search(*, tenant, query: str | None = None, lifecycle_stage: str | None = None,
                    rfm_segment: str | None = None, segment_id=None) -> QuerySet:
    profiles = live_profiles(tenant=tenant)
    if query:
        term = query.strip()
        by_identity = Identity.objects.for_tenant(tenant).filter(profile=OuterRef("pk"), value__iexact=term.lower())
        profiles = profiles.filter(Q(email__icontains=term) | Q(external_id=term) | Q(phone__contains=term)
                                   | Exists(by_identity))
    if lifecycle_stage:
        profiles = profiles.filter(lifecycle_stage=lifecycle_stage)
    if rfm_segment:
        profiles = profiles.filter(rfm__segment=rfm_segment)
    if segment_id:
        profiles = profiles.filter(segment_memberships__segment_id=segment_id,
                                   segment_memberships__removed_at__isnull=True)
    # identities as a plain list attribute: a prefetch into the related manager built a filtered queryset per profile
    identities = Prefetch("identities", queryset=Identity.objects.for_tenant(tenant).order_by("created_at"),
                          to_attr="identity_list")
    return profiles.select_related("rfm").prefetch_related(identities).order_by("-updated_at", "pk")


def profile_statistics(*, tenant) -> dict:
    profiles = live_profiles(tenant=tenant)
    totals = profiles.aggregate(total=Count("pk"), with_email=Count("pk", filter=~Q(email="")),
                                with_phone=Count("pk", filter=~Q(phone="")),
                                customers=Count("pk", filter=Q(total_orders__gt=0)))
    stages = dict(profiles.values_list("lifecycle_stage").annotate(n=Count("pk")).order_by())
    segments = dict(ProfileRfm.objects.for_tenant(tenant).filter(profile__merged_into__isnull=True)
                    .values_list("segment").annotate(n=Count("pk")).order_by())
    total = totals["total"]
    share = (lambda n: round(n / total, 4) if total else 0.0)
    return {
        "total_profiles": total,
        "by_lifecycle_stage": {stage: stages.get(stage, 0) for stage in LifecycleStage.values},
        "by_rfm_segment": {name: segments.get(name, 0) for name in RfmSegment.values},
        "without_rfm": total - sum(segments.values()),
        "with_email": totals["with_email"],
        "with_phone": totals["with_phone"],
        "email_share": share(totals["with_email"]),
        "phone_share": share(totals["with_phone"]),
        "purchasers": totals["customers"],
        "merged_profiles": Profile.objects.for_tenant(tenant).filter(merged_into__isnull=False).count(),
    }


def identity_links(*, tenant, profile: Profile) -> QuerySet:
    return (IdentityLink.objects.for_tenant(tenant).filter(Q(profile=profile) | Q(related_profile=profile))
            .order_by("-created_at", "pk"))


def profile_event_count(*, tenant, profile: Profile) -> int:
    return Event.objects.for_tenant(tenant).filter(profile=profile).count()
