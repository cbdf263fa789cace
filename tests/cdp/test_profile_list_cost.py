"""`GET /cdp/profiles` pages first: the same queries for any page size and any number of profiles."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cdp.services import profile_upsert
from tests.cdp.factories import ProfileRfmFactory
from tests.helpers import key_client_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/cdp/profiles"


def _people(tenant, start: int, count: int) -> None:
    for n in range(start, start + count):
        profile, _ = profile_upsert(tenant=tenant, identifiers={"email": f"p{n}@shop.example",
                                                                "phone": f"+1415555{n:04d}"})
        if n % 2:
            ProfileRfmFactory(tenant=tenant, profile=profile)


def _queries(client, params) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, params)
    assert response.status_code == 200, response.content[:300]
    return len(queries), response.json()


@pytest.mark.parametrize("auth", ["jwt", "key"])
def test_queries_do_not_grow_with_page_size_or_profiles(api_client, user, scoped, auth):
    client = api_client if auth == "jwt" else key_client_for(user, scopes=["read:cdp"])
    _people(scoped, 0, 4)
    client.get(URL)  # a key's first use records last_used_at
    counts = set()
    small, body = _queries(client, {"limit": 2})
    assert len(body["items"]) == 2 and body["total"] == 4
    counts.add(small)
    _people(scoped, 4, 26)
    for params in ({"limit": 2}, {"limit": 30}, {"limit": 10, "page": 2}):
        n, body = _queries(client, params)
        assert body["total"] == 30 and len(body["items"]) == params["limit"]
        assert all(item["identities"] for item in body["items"])  # prefetched with the page, not one by one
        counts.add(n)
    # auth, the page (its RFM row joined) with the count — on PostgreSQL its identities and predictions too;
    # elsewhere the page's identities, the page's predictions
    assert counts == {2 if connection.vendor == "postgresql" else 4}, counts
    n, body = _queries(client, {"limit": 10, "page": 4})  # past the end: no rows carry the count, so it is asked for
    assert body["items"] == [] and body["total"] == 30 and n == 3


def test_items_are_what_the_profile_serializer_gives(api_client, scoped):
    import json

    from rest_framework.renderers import JSONRenderer

    from cdp.models import Profile
    from cdp.selectors import profiles_list
    from cdp.serializers import ProfileSerializer, profile_items
    from tests.analytics.factories import ChurnPredictionFactory

    _people(scoped, 0, 6)
    profile, _ = profile_upsert(tenant=scoped, identifiers={"external_id": "crm-9", "anonymous_id": "a-1"},
                                traits={"first_name": "Zoë"})
    ChurnPredictionFactory(tenant=scoped, profile=profile, churn_probability=0.123456, probability_alive=0.876544,
                           expected_purchases=1.23456)
    ChurnPredictionFactory(tenant=scoped, profile=Profile.objects.get(email="p3@shop.example"),
                           expected_purchases=None)
    items = api_client.get(URL, {"limit": 20}).json()["items"]
    total, rows = profiles_list(tenant=scoped).page_with_total(offset=0, limit=20)
    by_id = {p.pk: p for p in Profile.objects.select_related("rfm")}
    expected = ProfileSerializer([by_id[row["id"]] for row in rows], many=True).data
    assert total == 7 and profile_items(rows) == expected
    assert items == json.loads(JSONRenderer().render(expected))
    assert sum(i["predictions"] is not None for i in items) == 2
    assert any(i["email"] is None and i["external_id"] == "crm-9" for i in items)
    assert [list(i) for i in items] == [list(ProfileSerializer.Meta.fields)] * len(items)


def test_every_filter_gives_the_orm_search_profiles_and_order(scoped):
    """The list's SQL conditions against `profiles_search` (the ORM's lookups): same profiles, same order, same
    count, for each filter and their combinations, including LIKE wildcards and case in the search term."""
    from django.utils import timezone

    from cdp.models import Identity, Profile, SegmentMembership
    from cdp.selectors import profiles_list, profiles_search
    from tests.cdp.factories import SegmentFactory

    _people(scoped, 0, 12)
    odd, _ = profile_upsert(tenant=scoped, identifiers={"email": "100%_real@Shop.example", "external_id": "EXT-7"})
    Identity.objects.filter(profile=odd, type="email").update(value="100%_real@shop.example")
    Profile.objects.filter(pk=odd.pk).update(email="100%_Real@Shop.example", lifecycle_stage="customer")
    segment = SegmentFactory(tenant=scoped)
    members = list(Profile.objects.order_by("email")[:5])
    for n, profile in enumerate(members):
        SegmentMembership.objects.create(tenant=scoped, segment=segment, profile=profile, added_at=timezone.now(),
                                         removed_at=timezone.now() if n == 0 else None)
    ProfileRfmFactory(tenant=scoped, profile=odd, segment="champions")
    cases = [{}, {"query": "shop"}, {"query": "SHOP.EXAMPLE"}, {"query": "100%_r"}, {"query": "%"}, {"query": "_"},
             {"query": "ext-7"}, {"query": "EXT-7"}, {"query": "5550003"}, {"query": " p3@shop.example "},
             {"query": "100%_REAL@shop.example"}, {"lifecycle_stage": "customer"}, {"lifecycle_stage": "lead"},
             {"rfm_segment": "champions"}, {"segment_id": segment.pk}, {"segment_id": segment.pk, "query": "p1"},
             {"query": "example", "rfm_segment": "champions", "lifecycle_stage": "customer"}]
    for filters in cases:
        expected = list(profiles_search(tenant=scoped, **filters).values_list("id", flat=True))
        for offset, limit in ((0, 100), (2, 3)):
            total, rows = profiles_list(tenant=scoped, **filters).page_with_total(offset=offset, limit=limit)
            assert total == len(expected), filters
            assert [row["id"] for row in rows] == expected[offset:offset + limit], filters
    assert len(profiles_search(tenant=scoped, query="100%_r")) == 1
    assert len(profiles_search(tenant=scoped, query="%")) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner and partial indexes")
def test_the_count_reads_the_narrow_live_index(scoped):
    """The list's count (every page pays it) is an index-only scan of `cdp_profile_live` (tenant only, deduplicated:
    a few pages per tenant), not of the wide page index; the RFM rows are joined only to filter on them."""
    from cdp.models import Profile
    from cdp.selectors import profiles_list
    from cdp.selectors.profiles import _filter_condition, _page_sql

    _people(scoped, 0, 6)
    survivor = Profile.objects.order_by("email").first()
    Profile.objects.exclude(pk=survivor.pk).filter(email="p1@shop.example").update(merged_into=survivor)
    assert profiles_list(tenant=scoped).page_with_total(offset=0, limit=2)[0] == 5
    assert profiles_list(tenant=scoped).page_with_total(offset=10, limit=2) == (5, [])  # the count alone
    for rfm in (False, True):
        condition = _filter_condition(connection.alias, False, False, rfm, False)
        count = _page_sql(connection.alias, condition, rfm)[1]
        assert ('"cdp_profilerfm"' in count) is rfm
        params = [scoped.pk, "champions"] if rfm else [scoped.pk]
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a test's few rows would be read whole otherwise
            cursor.execute("EXPLAIN (COSTS OFF) " + count, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        if not rfm:
            assert "Index Only Scan using cdp_profile_live on cdp_profile" in plan, plan
