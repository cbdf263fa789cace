"""Identity resolution: identifiers -> one profile, creating or merging profiles as the identifiers demand.

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

from collections import Counter
from collections.abc import Iterable

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from stratum.api.exceptions import ValidationFailed

from ..identifiers import Rules, priority
from ..models import PURCHASE_EVENT, Event, Identity, IdentityLink, Profile, ProfileMerge, SegmentMembership

PRIMARY_FIELDS = ("email", "phone", "external_id")
STAGE_RANK = {"anonymous": 0, "subscriber": 1, "lead": 2, "churned": 3, "customer": 4}
SNAPSHOT_FIELDS = ("external_id", "email", "phone", "lifecycle_stage", "traits")


class NoUsableIdentifier(ValidationFailed):
    default_code = "NO_USABLE_IDENTIFIER"


def identities_lookup(*, tenant, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], object]:
    """(type, value) -> profile id for the pairs that exist, in one query."""
    pairs = set(pairs)
    if not pairs:
        return {}
    condition = Q()
    by_type: dict[str, list[str]] = {}
    for kind, value in pairs:
        by_type.setdefault(kind, []).append(value)
    for kind, values in by_type.items():
        condition |= Q(type=kind, value__in=values)
    rows = Identity.objects.for_tenant(tenant).filter(condition).values_list("type", "value", "profile_id")
    return {(kind, value): profile_id for kind, value, profile_id in rows}


def _log(tenant, profile_id, action: str, reason: str, *, source: str, kind: str = "", value: str = "",
         related=None, merge=None) -> IdentityLink:
    return IdentityLink(tenant=tenant, profile_id=profile_id, action=action, identifier_type=kind,
                        identifier_value=value[:255], related_profile_id=related, merge=merge, reason=reason[:500],
                        source=source)


def profile_resolve(*, tenant, identifiers: dict[str, str], rules: Rules, source: str = "api",
                    profile: Profile | None = None) -> tuple[Profile, bool]:
    """The profile these normalized identifiers (and optionally an explicit profile) belong to.

    Runs inside the caller's transaction; raises NoUsableIdentifier when nothing identifies anyone.
    """
    links: list[IdentityLink] = []
    usable = {}
    for kind, value in identifiers.items():
        if rules.is_blocked(kind, value):
            links.append(_log(tenant, None, "blocked", f"{kind} value is on the blocklist; it links no profiles",
                              source=source, kind=kind, value=value))
        else:
            usable[kind] = value
    existing = identities_lookup(tenant=tenant, pairs=usable.items())
    candidates = {pid for pid in existing.values()}
    if profile is not None:
        candidates.add(profile.pk)
    created = False
    if not candidates:
        if not usable:
            raise NoUsableIdentifier(errors={"identifiers": [
                "No usable identifier: every value given is on the blocklist or none was given."]})
        stage = "anonymous" if set(usable) <= {"anonymous_id"} else "lead"
        target = Profile.objects.for_tenant(tenant).create(tenant=tenant, lifecycle_stage=stage)
        created = True
    elif len(candidates) == 1:
        target = profile if profile is not None else Profile.objects.for_tenant(tenant).get(pk=next(iter(candidates)))
    else:
        target = _resolve_conflict(tenant=tenant, candidates=candidates, existing=existing, usable=usable,
                                   explicit=profile, rules=rules, source=source, links=links)
    _attach(tenant=tenant, profile=target, usable=usable, existing=existing, rules=rules, source=source, links=links,
            created=created)
    for link in links:
        if link.profile_id is None:
            link.profile_id = target.pk
    IdentityLink.objects.for_tenant(tenant).bulk_create(links)
    return target, created


def _identity_counts(tenant, profile_ids) -> dict:
    rows = (Identity.objects.for_tenant(tenant).filter(profile_id__in=profile_ids).values("profile_id", "type")
            .annotate(n=Count("id")))
    counts: dict = {}
    for row in rows:
        counts.setdefault(row["profile_id"], Counter())[row["type"]] = row["n"]
    return counts


def _resolve_conflict(*, tenant, candidates, existing, usable, explicit, rules, source, links) -> Profile:
    profiles = list(Profile.objects.for_tenant(tenant).filter(pk__in=candidates).select_for_update()
                    .order_by("created_at", "pk"))
    counts = _identity_counts(tenant, candidates)
    union: Counter = Counter()
    for pid in candidates:
        union.update(counts.get(pid, Counter()))
    for kind, value in usable.items():
        if (kind, value) not in existing:
            union[kind] += 1
    over = sorted(kind for kind, n in union.items() if n > rules.cap(kind))
    if over:
        # No merge: the strongest identifier (or the explicit profile) decides.
        if explicit is not None:
            target = explicit
        else:
            strongest = min((pair for pair in existing), key=lambda pair: priority(pair[0]))
            target = next(p for p in profiles if p.pk == existing[strongest])
        for (kind, value), pid in existing.items():
            if pid != target.pk:
                links.append(_log(tenant, target.pk, "capped",
                                  f"{kind} {value} belongs to another profile; merging would exceed the cap on "
                                  f"{', '.join(over)} identities", source=source, kind=kind, value=value, related=pid))
        return target
    winner, losers = profiles[0], profiles[1:]
    for loser in losers:
        pair = next(((k, v) for (k, v), pid in existing.items() if pid == loser.pk), None)
        if pair is None and explicit is not None:
            pair = ("profile_id", str(explicit.pk))
        anchor = next(((k, v) for (k, v), pid in existing.items() if pid == winner.pk), None) or (
            ("profile_id", str(winner.pk)))
        reason = (f"{anchor[0]} {anchor[1]} and {pair[0]} {pair[1]} were named together" if pair
                  else "identifiers named both profiles")
        profiles_merge(tenant=tenant, winner=winner, loser=loser, reason=reason, kind=pair[0] if pair else "",
                       value=pair[1] if pair else "", source=source)
    return winner


def _attach(*, tenant, profile, usable, existing, rules, source, links, created) -> None:
    new = {k: v for k, v in usable.items() if (k, v) not in existing}
    if not new:
        return
    counts = Counter() if created else _identity_counts(tenant, [profile.pk]).get(profile.pk, Counter())
    rows = []
    for kind, value in sorted(new.items(), key=lambda kv: priority(kv[0])):
        if counts[kind] >= rules.cap(kind):
            links.append(_log(tenant, profile.pk, "capped",
                              f"profile already has {counts[kind]} {kind} identities (cap {rules.cap(kind)})",
                              source=source, kind=kind, value=value))
            continue
        counts[kind] += 1
        rows.append(Identity(tenant=tenant, profile=profile, type=kind, value=value, source=source))
        reason = "new profile" if created else "new identifier seen with this profile"
        links.append(_log(tenant, profile.pk, "attached", reason, source=source, kind=kind, value=value))
    Identity.objects.for_tenant(tenant).bulk_create(rows)
    changed = [f for f in PRIMARY_FIELDS if not getattr(profile, f) and f in {r.type for r in rows}]
    for field in changed:
        setattr(profile, field, next(r.value for r in rows if r.type == field))
    if changed:
        profile.save(update_fields=[*changed, "updated_at"])


def profiles_merge(*, tenant, winner: Profile, loser: Profile, reason: str, kind: str = "", value: str = "",
                   source: str = "api") -> ProfileMerge:
    """Moves the loser's identities and events to the winner; the loser's id then resolves to the winner."""
    now = timezone.now()
    identities = Identity.objects.for_tenant(tenant)
    snapshot = {
        "loser": {f: getattr(loser, f) for f in SNAPSHOT_FIELDS},
        "winner_trait_keys": sorted(winner.traits or {}),
        "winner_primary": {f: getattr(winner, f) for f in PRIMARY_FIELDS},
        "winner_stage": winner.lifecycle_stage,
        "identity_ids": [str(i) for i in identities.filter(profile=loser).values_list("pk", flat=True)],
        "repointed_ids": [str(i) for i in Profile.objects.for_tenant(tenant).filter(merged_into=loser)
                          .values_list("pk", flat=True)],
    }
    merge = ProfileMerge.objects.for_tenant(tenant).create(
        tenant=tenant, winner=winner, loser=loser, reason=reason[:500], identifier_type=kind,
        identifier_value=value[:255], source=source, snapshot=snapshot)
    identities.filter(profile=loser).update(profile=winner)
    Event.objects.for_tenant(tenant).filter(profile=loser).update(profile=winner)
    Profile.objects.for_tenant(tenant).filter(merged_into=loser).update(merged_into=winner)
    SegmentMembership.objects.for_tenant(tenant).filter(profile=loser, removed_at__isnull=True).update(removed_at=now)
    winner.traits = {**(loser.traits or {}), **(winner.traits or {})}
    for field in PRIMARY_FIELDS:
        if not getattr(winner, field):
            setattr(winner, field, getattr(loser, field))
    if STAGE_RANK.get(loser.lifecycle_stage, 0) > STAGE_RANK.get(winner.lifecycle_stage, 0):
        winner.lifecycle_stage = loser.lifecycle_stage
    winner.save()
    profile_totals_refresh(tenant=tenant, profile=winner)
    Profile.objects.for_tenant(tenant).filter(pk=loser.pk).update(merged_into=winner, merged_at=now, updated_at=now)
    loser.merged_into, loser.merged_at = winner, now
    IdentityLink.objects.for_tenant(tenant).bulk_create([
        _log(tenant, winner.pk, "merged", f"absorbed profile {loser.pk}: {reason}", source=source, kind=kind,
             value=value, related=loser.pk, merge=merge),
        _log(tenant, loser.pk, "merged", f"merged into profile {winner.pk}: {reason}", source=source, kind=kind,
             value=value, related=winner.pk, merge=merge),
    ])
    return merge


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
