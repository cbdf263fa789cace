"""Profile reads: lookups other apps use, search, statistics."""
from __future__ import annotations

from functools import lru_cache

from django.db import connections
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from stratum.api.db import datetime_text_sql, field_converters, values_convert
from stratum.api.exceptions import NotFound
from stratum.api.serializers import datetime_text

from ..identifiers import normalize_value
from ..models import (
    PURCHASE_EVENT,
    Event,
    Identity,
    IdentityLink,
    LifecycleStage,
    Profile,
    ProfileRfm,
    RfmSegment,
    SegmentMembership,
)
from ..predictions import PredictionsJoin, predictions_by_profile, predictions_join


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
    """Live profiles matching the filters, most recently updated first."""
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
    return profiles.order_by("-updated_at", "pk")


# A list item's columns (then its RFM row's, null without one), as plain values.
PROFILE_COLUMNS = ("id", "external_id", "email", "phone", "lifecycle_stage", "traits", "total_orders", "ltv",
                   "created_at", "updated_at")
RFM_COLUMNS = ("recency_score", "frequency_score", "monetary_score", "segment")
PROFILE_TIMES = ("created_at", "updated_at")  # as text, as the API writes them (`datetime_text`)


@lru_cache(maxsize=64)
def _filter_condition(alias: str, query: bool, lifecycle_stage: bool, rfm_segment: bool, segment: bool) -> str:
    """`profiles_search`'s filters as a condition over the profiles `p` (their RFM rows `r` joined), on one
    database: the ORM's lookups written with the backend's own operators."""
    ops, operators = connections[alias].ops, connections[alias].operators

    def lookup(name: str, column: str) -> str:
        return f'{ops.lookup_cast(name, "CharField") % column} {operators[name] % "%s"}'

    conditions = ['p."tenant_id" = %s', 'p."merged_into_id" IS NULL']
    if query:  # the order of `ProfilePage`'s parameters
        email, phone, value = 'p."email"', 'p."phone"', 'i."value"'
        identities = (f'SELECT 1 FROM "{Identity._meta.db_table}" i WHERE i."tenant_id" = %s AND '
                      f'i."profile_id" = p."id" AND {lookup("iexact", value)}')
        conditions.append(f'({lookup("icontains", email)} OR p."external_id" = %s OR {lookup("contains", phone)} '
                          f'OR EXISTS ({identities}))')
    if lifecycle_stage:
        conditions.append('p."lifecycle_stage" = %s')
    if rfm_segment:
        conditions.append('r."segment" = %s')
    if segment:
        conditions.append(f'EXISTS (SELECT 1 FROM "{SegmentMembership._meta.db_table}" s WHERE s."profile_id" = '
                          f'p."id" AND s."segment_id" = %s AND s."removed_at" IS NULL)')
    return " AND ".join(conditions)


@lru_cache(maxsize=64)
def _page_sql(alias: str, condition: str, rfm_filtered: bool) -> tuple[str, str, list, PredictionsJoin | None, bool]:
    """The page with its RFM row and the count in one statement, the count alone (a page past the end), the
    columns' converters, the predictions' join and whether the page's statement also reads its identities and
    predictions (PostgreSQL: the page is a derived table, so they are read for its rows only, not for the rows an
    OFFSET skips). The count joins the RFM rows only when the condition filters on them: a profile has at most
    one (its primary key), so the join never changes the number, and without it PostgreSQL counts from the
    narrow `cdp_profile_live` index (with the join, the planner still wants `p.id` and reads a wider one)."""
    connection = connections[alias]
    fields = [Profile._meta.get_field(name) for name in PROFILE_COLUMNS]
    tables = (f'"{Profile._meta.db_table}" p LEFT JOIN "{ProfileRfm._meta.db_table}" r '
              f'ON r."profile_id" = p."id"')
    counted = tables if rfm_filtered else f'"{Profile._meta.db_table}" p'
    count = f"SELECT COUNT(*) FROM {counted} WHERE {condition}"
    columns = [*(f'p."{field.column}"' for field in fields), *(f'r."{name}"' for name in RFM_COLUMNS)]
    order = 'ORDER BY p."updated_at" DESC, p."id" ASC'
    converters = field_converters(fields, connection)
    if connection.vendor != "postgresql":
        page = f"SELECT {', '.join(columns)}, ({count}) FROM {tables} WHERE {condition} {order} LIMIT %s OFFSET %s"
        return page, count, converters, None, False
    for name in PROFILE_TIMES:  # as the API writes them
        at = PROFILE_COLUMNS.index(name)
        columns[at] = datetime_text_sql(columns[at], connection)
        converters[at] = (converters[at][0], [])
    named = ", ".join(f"{column} AS c{n}" for n, column in enumerate(columns))
    inner = (f'SELECT {named}, ({count}) AS total, p."updated_at" AS o FROM {tables} WHERE {condition} {order} '
             "LIMIT %s OFFSET %s")
    identities = (f'(SELECT json_agg(json_build_array(i."type", i."value") ORDER BY i."created_at", i."id") '
                  f'FROM "{Identity._meta.db_table}" i WHERE i."tenant_id" = %s AND i."profile_id" = pg.c0)')
    join = predictions_join(alias)
    joined, predicted = "", ""
    if join is not None:
        joined = f' LEFT JOIN "{join.table}" x ON x."tenant_id" = %s AND x."profile_id" = pg.c0'  # the tenant rule
        predicted = "".join(f', x."{column}"' for column in join.columns)
    outer = ", ".join(f"pg.c{n}" for n in range(len(columns)))
    page = (f"SELECT {outer}, pg.total, {identities}{predicted} FROM ({inner}) pg{joined} "
            "ORDER BY pg.o DESC, pg.c0 ASC")
    return page, count, converters, join, True


class ProfilePage:
    """A profile list as the paginator takes it (`page_with_total`): the page of live profiles with its RFM rows,
    the number of profiles, the page's identities (`identities`: (type, value) in the order they were added) and
    churn predictions (`predictions`) — on PostgreSQL in one statement, elsewhere the identities and predictions in
    one more each — built once per process per shape of filters from `profiles_search`'s filters written as SQL
    conditions (a test holds the two to the same profiles and order). No ORM query compiled and no model instance
    built (a prefetch built an Identity per identifier and a queryset per profile). PostgreSQL counts the live
    profiles with an index-only scan of their partial index."""

    def __init__(self, *, tenant, query: str | None = None, lifecycle_stage: str | None = None,
                 rfm_segment: str | None = None, segment_id=None):
        self.tenant = tenant
        self.term = query.strip() if query else None
        self.lifecycle_stage, self.rfm_segment, self.segment_id = lifecycle_stage, rfm_segment, segment_id

    def _params(self, connection, tenant) -> list:
        params: list = [tenant]
        if self.term:
            like = f"%{connection.ops.prep_for_like_query(self.term)}%"
            params += [like, self.term, like, tenant, connection.ops.prep_for_iexact_query(self.term.lower())]
        params += [value for value in (self.lifecycle_stage, self.rfm_segment) if value]
        if self.segment_id:
            params.append(Profile._meta.pk.get_db_prep_value(self.segment_id, connection))
        return params

    def page_with_total(self, *, offset: int, limit: int) -> tuple[int, list[dict]]:
        connection = connections[Profile.objects.db]
        tenant = Profile._meta.pk.get_db_prep_value(self.tenant.pk, connection)
        params = self._params(connection, tenant)
        condition = _filter_condition(connection.alias, bool(self.term), bool(self.lifecycle_stage),
                                      bool(self.rfm_segment), bool(self.segment_id))
        page, count, converters, join, complete = _page_sql(connection.alias, condition, bool(self.rfm_segment))
        with connection.cursor() as cursor:
            cursor.execute(page, [*([tenant] if complete else []), *params, *params, limit, offset,
                                  *([tenant] if join is not None else [])])
            rows = cursor.fetchall()
            if not rows:  # a page past the end: the count came with the rows
                cursor.execute(count, params)
                return cursor.fetchone()[0], []
        columns, rfm_end = len(PROFILE_COLUMNS), len(PROFILE_COLUMNS) + len(RFM_COLUMNS)
        items = []
        for row in rows:
            item = dict(zip(PROFILE_COLUMNS, values_convert(row[:columns], converters, connection), strict=True))
            item["rfm"] = dict(zip(RFM_COLUMNS, row[columns:rfm_end], strict=True))
            items.append(item)
        if complete:  # the times came as text
            for item, row in zip(items, rows, strict=True):
                item["identities"] = row[rfm_end + 1] or []
                item["predictions"] = join.block(row[rfm_end + 2:], connection) if join else None
        else:
            identities = profile_identity_pairs(tenant=self.tenant, profile_ids=[item["id"] for item in items])
            predictions = predictions_by_profile(profile_ids=[item["id"] for item in items])
            for item in items:
                item["created_at"], item["updated_at"] = datetime_text(item["created_at"]), datetime_text(item["updated_at"])
                item["identities"] = identities.get(item["id"], [])
                item["predictions"] = predictions.get(item["id"])
        return rows[0][rfm_end], items


def profiles_list(*, tenant, query: str | None = None, lifecycle_stage: str | None = None,
                  rfm_segment: str | None = None, segment_id=None) -> ProfilePage:
    """`GET /cdp/profiles`: `profiles_search`'s profiles, a page at a time."""
    return ProfilePage(tenant=tenant, query=query, lifecycle_stage=lifecycle_stage, rfm_segment=rfm_segment,
                       segment_id=segment_id)


@lru_cache(maxsize=128)
def _identities_sql(alias: str, ids: int) -> str:
    return (f'SELECT "profile_id", "type", "value" FROM "{Identity._meta.db_table}" WHERE "tenant_id" = %s AND '
            f'"profile_id" IN ({", ".join(["%s"] * ids)}) ORDER BY "created_at", "id"')


def profile_identity_pairs(*, tenant, profile_ids: list) -> dict:
    """{profile id: [(type, value), …]} of these profiles' identities, in the order they were added."""
    connection = connections[Identity.objects.db]
    pk = Profile._meta.pk
    out: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(_identities_sql(connection.alias, len(profile_ids)),
                       [pk.get_db_prep_value(value, connection) for value in (tenant.pk, *profile_ids)])
        for profile_id, kind, value in cursor.fetchall():
            out.setdefault(pk.to_python(profile_id), []).append((kind, value))
    return out


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
