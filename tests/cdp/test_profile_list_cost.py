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
    # auth, count, page (with RFM joined), the page's identities, the page's predictions
    assert counts == {5}, counts


def test_items_are_what_the_profile_serializer_gives(api_client, scoped):
    from cdp.selectors import profiles_search
    from cdp.serializers import ProfileSerializer, profile_items

    _people(scoped, 0, 6)
    profile, _ = profile_upsert(tenant=scoped, identifiers={"external_id": "crm-9", "anonymous_id": "a-1"},
                                traits={"first_name": "Zoë"})
    items = api_client.get(URL, {"limit": 20}).json()["items"]
    page = list(profiles_search(tenant=scoped)[:20])
    assert profile_items(page) == ProfileSerializer(page, many=True).data
    assert items == ProfileSerializer(page, many=True).data
    assert any(i["email"] is None and i["external_id"] == "crm-9" for i in items)
    assert [list(i) for i in items] == [list(ProfileSerializer.Meta.fields)] * len(items)
