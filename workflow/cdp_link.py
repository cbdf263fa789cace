"""The customer data platform as lead scoring sees it, through the CDP's public selectors: the profile of
an e-mail, its events (the behavioral component), and purchases (the outcome a model learns from).

Lead scoring works the same when the CDP knows nothing: no profile link, no events, no learnt outcomes.
"""
from __future__ import annotations

import uuid

from django.db.models import Count

from accounts.models import Tenant
from cdp.selectors import (
    IN_LIST_CHUNK,
    events_timeline,
    profile_find_by_email,
    profile_ids_by_email,
    purchase_counts_by_email,
)


def cdp_profile_id(*, tenant: Tenant, email: str) -> uuid.UUID | None:
    profile = profile_find_by_email(tenant=tenant, email=email)
    return profile.pk if profile is not None else None


def cdp_profile_ids(*, tenant: Tenant, emails: list[str]) -> dict[str, uuid.UUID]:
    """The profile of each e-mail the CDP knows (lower-case keys), in one query."""
    return {email.lower(): pk for email, pk in profile_ids_by_email(tenant=tenant, emails=emails).items()}


def cdp_event_counts(*, tenant: Tenant, profile_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Events per profile, in one grouped query per 10,000 profiles."""
    ids = [pk for pk in profile_ids if pk]
    counts = {}
    for start in range(0, len(ids), IN_LIST_CHUNK):
        counts.update(events_timeline(tenant=tenant).filter(profile_id__in=ids[start:start + IN_LIST_CHUNK])
                      .order_by().values("profile_id").annotate(n=Count("pk")).values_list("profile_id", "n"))
    return counts


def cdp_purchase_counts(*, tenant: Tenant, emails: list[str]) -> dict[str, int]:
    """Purchases per e-mail (lower-case keys; e-mails the CDP does not know count 0)."""
    return {email.lower(): int(n) for email, n in (purchase_counts_by_email(tenant=tenant, emails=emails) or {}).items()}


def _person_leads(tenant: Tenant, profile_ids: list, identifiers: set):
    from django.db.models import Q

    from .models import Lead

    emails = sorted(value for kind, value in identifiers if kind == "email")
    return Lead.objects.for_tenant(tenant).filter(Q(cdp_profile_id__in=profile_ids) | Q(email__in=emails))


def leads_privacy_erase(*, tenant: Tenant, profile_ids: list, identifiers: set) -> dict:
    """An erased CDP person: their leads (linked to the profile, or scored under one of their e-mail addresses) go
    with them."""
    deleted, _ = _person_leads(tenant, profile_ids, identifiers).delete()
    return {"leads": deleted}


def leads_privacy_export(*, tenant: Tenant, profile_ids: list, identifiers: set) -> dict:
    rows = (_person_leads(tenant, profile_ids, identifiers).order_by("created_at", "pk")
            .values("id", "client_id", "email", "score", "value", "raw_data", "source", "outcome", "cdp_profile_id",
                    "created_at", "updated_at"))
    return {"leads": list(rows)}
