"""Profile writes: upsert by identifiers, trait updates, unmerge, identity rules."""
from __future__ import annotations

import json
import re

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from stratum.api.db import advisory_xact_locks, atomic_retry
from stratum.api.exceptions import Conflict, NotFound, ValidationFailed

from ..errors import MERGE_CHANGED, NOTHING_TO_UNMERGE, PROFILE_MERGED, NoUsableIdentifier
from ..identifiers import (
    BUILTIN_BLOCKLIST,
    DEFAULT_CAPS,
    IDENTIFIER_TYPE_RE,
    MAX_CAP,
    IdentifierError,
    normalize_identifiers,
    normalize_value,
)
from ..models import (
    CONSENT_TRAITS,
    Event,
    Identity,
    IdentityLink,
    IdentityRules,
    LifecycleStage,
    Profile,
    ProfileMerge,
)
from .ingest import LOCK_TIMEOUT, MAX_TRAITS_BYTES, TIME_BUDGET, IngestItem, ItemStatus, items_ingest, key_lock
from .journeys import journeys_catch_up_queue, journeys_mark
from .resolution import PRIMARY_FIELDS, profile_totals_refresh
from .suppression import IdentifierSuppressed

TRAIT_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Maintained from purchase events; a client cannot set them.
COMPUTED_TRAITS = ("total_orders", "ltv")
CONSENT_TRAIT_KEYS = frozenset(CONSENT_TRAITS.values())


def traits_validate(traits, *, path: str = "traits") -> dict:
    if traits is None:
        return {}
    if not isinstance(traits, dict):
        raise ValidationFailed(errors={path: ["Must be an object."]})
    errors = {}
    for key in traits:
        if not isinstance(key, str) or not TRAIT_KEY_RE.match(key):
            errors[f"{path}.{str(key)[:40]}"] = ["Trait names are letters, digits and _ (at most 64)."]
        elif key in COMPUTED_TRAITS:
            errors[f"{path}.{key}"] = ["Computed from purchase events; it cannot be set."]
        elif key in CONSENT_TRAIT_KEYS and traits[key] is not None and not isinstance(traits[key], bool):
            errors[f"{path}.{key}"] = ["Consent is true (given), false (withdrawn) or null (unknown)."]
    if errors:
        raise ValidationFailed(errors=errors)
    if len(json.dumps(traits, default=str).encode()) > MAX_TRAITS_BYTES:
        raise ValidationFailed(errors={path: [f"Traits may take at most {MAX_TRAITS_BYTES // 1024} KB."]})
    return traits


def _apply_traits(profile: Profile, traits: dict) -> None:
    merged = dict(profile.traits or {})
    for key, value in traits.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(json.dumps(merged, default=str).encode()) > MAX_TRAITS_BYTES:
        raise ValidationFailed(errors={"traits": [f"Traits may take at most {MAX_TRAITS_BYTES // 1024} KB in all."]})
    profile.traits = merged


def _identifiers(raw) -> dict[str, str]:
    try:
        return normalize_identifiers(raw)
    except IdentifierError as exc:
        raise ValidationFailed(errors=exc.errors) from exc


def profile_upsert(*, tenant, identifiers: dict[str, str], traits: dict | None = None, source: str = "api",
                   lifecycle_stage: str | None = None) -> tuple[Profile, bool]:
    """Finds the profile these identifiers name (creating or merging profiles as needed) and updates it.

    `identifiers`: {"email": ..., "phone": ..., "external_id": ..., "anonymous_id": ..., "<custom>": ...};
    values are normalized (e-mail lower-cased, phone to E.164) — a bad value is a 422 naming
    `identifiers.<type>`. `traits` are merged into the profile's (a None value removes the key).
    Returns (profile, created). Used by the API and by the integrations' CRM sync.
    """
    clean = _identifiers(identifiers)
    if not clean:
        raise ValidationFailed(errors={"identifiers": ["Give at least one identifier."]})
    traits = traits_validate(traits)
    if lifecycle_stage is not None and lifecycle_stage not in LifecycleStage.values:
        raise ValidationFailed(errors={"lifecycle_stage": [f"Must be one of {', '.join(LifecycleStage.values)}."]})
    result = items_ingest(tenant=tenant, items=[IngestItem(index=0, identifiers=clean, traits=traits or None,
                                                         lifecycle_stage=lifecycle_stage)], source=source)[0]
    if result.status == ItemStatus.REJECTED:
        raise NoUsableIdentifier(errors=result.errors)
    if result.status == ItemStatus.SUPPRESSED:
        raise IdentifierSuppressed()
    return Profile.objects.for_tenant(tenant).get(pk=result.profile_id), result.profile_created


def profile_update(*, tenant, profile: Profile, traits: dict | None = None,
                   lifecycle_stage: str | None = None) -> Profile:
    """PATCH: merges traits (None removes a key) and sets the lifecycle stage."""
    traits = traits_validate(traits)
    with transaction.atomic():
        profile = Profile.objects.for_tenant(tenant).select_for_update(no_key=True).get(pk=profile.pk)
        while profile.merged_into_id:  # merged away since it was read: the traits belong to the winner
            profile = Profile.objects.for_tenant(tenant).select_for_update(no_key=True).get(pk=profile.merged_into_id)
        _apply_traits(profile, traits)
        if lifecycle_stage:
            profile.lifecycle_stage = lifecycle_stage
        profile.save(update_fields=["traits", "lifecycle_stage", "updated_at"])
    return profile


def profile_consent_set(*, tenant, profile: Profile, consent: dict[str, bool | None]) -> Profile:
    """Sets consent per purpose ({"ads": false, ...}; None forgets it) as the profile's `consent_<purpose>` traits."""
    return profile_update(tenant=tenant, profile=profile,
                          traits={CONSENT_TRAITS[purpose]: value for purpose, value in consent.items()})


def profile_unmerge(*, tenant, profile: Profile, merge_id=None, block_identifier: bool = False) -> ProfileMerge:
    """Splits a merge into `profile` back: the loser gets its identities, events and traits again.

    Without `merge_id` the most recent merge into this profile is undone. `block_identifier` also puts the
    identifier that caused the merge on the tenant's blocklist so it cannot merge the two again.
    """
    return atomic_retry(lambda: _unmerge(tenant=tenant, profile=profile, merge_id=merge_id,
                                         block_identifier=block_identifier), budget=TIME_BUDGET)


def _merge_to_undo(*, tenant, profile_id, merge_id) -> ProfileMerge:
    merges = ProfileMerge.objects.for_tenant(tenant).filter(winner_id=profile_id, undone_at__isnull=True)
    if merge_id is not None:
        merge = merges.filter(pk=merge_id).first()
        if merge is None:
            raise NotFound("No such merge into this profile.")
        return merge
    merge = merges.order_by("-created_at").first()
    if merge is None:
        raise Conflict("Nothing was merged into this profile.", code=NOTHING_TO_UNMERGE)
    return merge


def _unmerge(*, tenant, profile: Profile, merge_id, block_identifier: bool) -> ProfileMerge:
    """The ingestion path's lock order: the advisory locks of the identities that move back (sorted), then the two
    profile rows (in id order); then the merge is read again under them (a concurrent unmerge may have won)."""
    merge = _merge_to_undo(tenant=tenant, profile_id=profile.pk, merge_id=merge_id)
    snapshot = merge.snapshot or {}
    keys = Identity.objects.for_tenant(tenant).filter(pk__in=snapshot.get("identity_ids", [])) \
        .values_list("type", "value")
    advisory_xact_locks((key_lock(tenant.pk, kind, value) for kind, value in keys), timeout=LOCK_TIMEOUT)
    rows = {p.pk: p for p in Profile.objects.for_tenant(tenant).filter(pk__in=[merge.winner_id, merge.loser_id])
            .order_by("pk").select_for_update(no_key=True)}
    profile = rows[merge.winner_id]
    if profile.merged_into_id:
        raise Conflict(f"This profile was merged into {profile.merged_into_id}; unmerge it there.",
                       code=PROFILE_MERGED)
    again = _merge_to_undo(tenant=tenant, profile_id=profile.pk, merge_id=merge_id)
    if again.pk != merge.pk:
        raise Conflict("Another merge or unmerge of this profile happened meanwhile; look again and retry.",
                       code=MERGE_CHANGED)
    merge = again
    loser = rows[merge.loser_id]
    snapshot = merge.snapshot or {}
    now = timezone.now()
    repointed = snapshot.get("repointed_ids", [])
    identity_ids = snapshot.get("identity_ids", [])
    Identity.objects.for_tenant(tenant).filter(pk__in=identity_ids, profile=profile).update(profile=loser)
    Profile.objects.for_tenant(tenant).filter(pk__in=repointed, merged_into=profile).update(merged_into=loser)
    # The loser's events: those first attributed to it (or to a profile merged into it before), and those that
    # its identities routed — also after the merge.
    Event.objects.for_tenant(tenant).filter(profile=profile).filter(
        Q(origin_profile_id__in=[loser.pk, *repointed]) | Q(identity_id__in=identity_ids)).update(profile=loser)
    journeys_mark(tenant=tenant, since=dict.fromkeys([profile.pk, loser.pk]))
    journeys_catch_up_queue(tenant=tenant)
    for field, value in (snapshot.get("loser") or {}).items():
        setattr(loser, field, value)
    loser.merged_into, loser.merged_at = None, None
    loser.save()
    # The winner drops what it only had from the loser: keys it lacked before the merge that still hold the
    # loser's value. Traits set on it since the merge (new keys, or the loser's keys given new values) stay.
    kept = set(snapshot.get("winner_trait_keys", []))
    lent = (snapshot.get("loser") or {}).get("traits") or {}
    profile.traits = {k: v for k, v in (profile.traits or {}).items()
                      if k in kept or k not in lent or lent[k] != v}
    own = dict(Identity.objects.for_tenant(tenant).filter(profile=profile).order_by("-created_at")
               .values_list("type", "value"))
    for field in PRIMARY_FIELDS:
        if getattr(profile, field) and getattr(profile, field) not in own.values():
            setattr(profile, field, (snapshot.get("winner_primary") or {}).get(field) or own.get(field, ""))
    profile.save()
    for target in (profile, loser):
        profile_totals_refresh(tenant=tenant, profile=target)
    # The stage the winner took from the loser goes back, unless its own purchases make it a customer.
    before, taken = snapshot.get("winner_stage"), (snapshot.get("loser") or {}).get("lifecycle_stage")
    if (before and profile.lifecycle_stage == taken != before
            and not (taken == "customer" and profile.total_orders)):
        profile.lifecycle_stage = before
        profile.save(update_fields=["lifecycle_stage", "updated_at"])
    merge.undone_at = now
    merge.save(update_fields=["undone_at"])
    reason = f"wrong merge split back ({merge.reason})"
    IdentityLink.objects.for_tenant(tenant).bulk_create([
        IdentityLink(tenant=tenant, profile=profile, action="unmerged", related_profile=loser, merge=merge,
                     identifier_type=merge.identifier_type, identifier_value=merge.identifier_value,
                     reason=reason[:500], source="api"),
        IdentityLink(tenant=tenant, profile=loser, action="unmerged", related_profile=profile, merge=merge,
                     identifier_type=merge.identifier_type, identifier_value=merge.identifier_value,
                     reason=reason[:500], source="api"),
    ])
    if block_identifier and merge.identifier_type and merge.identifier_type != "profile_id":
        identity_rules_update(tenant=tenant, add_blocked=[{"type": merge.identifier_type,
                                                           "value": merge.identifier_value}])
    return merge


def identity_rules_get(*, tenant) -> dict:
    row = IdentityRules.objects.for_tenant(tenant).first()
    caps = {**DEFAULT_CAPS, **((row.caps if row else None) or {})}
    return {
        "blocklist": list((row.blocklist if row else None) or []),
        "builtin_blocklist": {kind: sorted(values) for kind, values in BUILTIN_BLOCKLIST.items()},
        "caps": caps,
    }


def identity_rules_update(*, tenant, blocklist: list | None = None, add_blocked: list | None = None,
                          caps: dict | None = None) -> dict:
    """Replaces the blocklist (or adds entries) and sets per-type caps; values are normalized like identifiers."""
    errors: dict[str, list[str]] = {}
    entries = []
    for index, entry in enumerate((blocklist if blocklist is not None else []) + (add_blocked or [])):
        kind, value = entry.get("type"), entry.get("value")
        if not isinstance(kind, str) or not IDENTIFIER_TYPE_RE.match(kind):
            errors[f"blocklist[{index}].type"] = ["Identifier types are lower-case words (email, phone, …)."]
            continue
        try:
            entries.append({"type": kind, "value": normalize_value(kind, value)})
        except ValueError as exc:
            errors[f"blocklist[{index}].value"] = [str(exc)]
    for kind, cap in (caps or {}).items():
        if not IDENTIFIER_TYPE_RE.match(str(kind)):
            errors[f"caps.{str(kind)[:40]}"] = ["Identifier types are lower-case words."]
        elif isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_CAP:
            errors[f"caps.{kind}"] = [f"Must be an integer from 1 to {MAX_CAP}."]
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        row, _ = IdentityRules.objects.for_tenant(tenant).select_for_update().get_or_create(tenant=tenant)
        current = [] if blocklist is not None else list(row.blocklist or [])
        seen = {(e["type"], e["value"]) for e in current}
        for entry in entries:
            if (entry["type"], entry["value"]) not in seen:
                seen.add((entry["type"], entry["value"]))
                current.append(entry)
        row.blocklist = current
        if caps is not None:
            row.caps = {**(row.caps or {}), **caps}
        row.save()
    return identity_rules_get(tenant=tenant)
