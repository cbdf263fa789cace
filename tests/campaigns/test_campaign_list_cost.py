"""The campaign list pages first: its queries do not grow with the page or the data, and its pages are the ones the
ORM's order over every campaign's summed metrics gave (same ids, same order, same figures)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from campaigns.metrics import metric_value
from campaigns.selectors.campaigns import (
    FIELD_ORDERINGS,
    METRIC_ORDERINGS,
    ORDERINGS,
    CampaignFilters,
    campaign_metrics_attach,
    campaign_queryset,
    with_metrics,
)
from campaigns.serializers import CampaignListSerializer
from stratum.api.params import DateRange
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory
from tests.campaigns.factories import AdAccountFactory, CampaignDailyMetricFactory, CampaignFactory

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 3, 18)
SHOWN = ("spend", "revenue", "roas", "conversions", "clicks", "impressions", "cpa", "ctr")


def _world(tenant, *, campaigns: int = 12) -> list:
    """Campaigns with distinct, tied, zero and missing figures, rows in and out of a 7-day range, a deleted one."""
    account = AdAccountFactory(tenant=tenant, platform="meta")
    made = []
    for n in range(campaigns):
        campaign = CampaignFactory(tenant=tenant, ad_account=account, name=f"C{n:02d}",
                                   budget_amount=Decimal(10 + n), status="deleted" if n == 5 else "active")
        made.append(campaign)
        if n % 4 == 3:
            continue  # no metric rows at all
        for offset in (1, 3, 20):
            tie = n % 3 == 0  # every third campaign has the same figures as the others of its kind
            CampaignDailyMetricFactory(
                tenant=tenant, campaign=campaign, date=TODAY - dt.timedelta(days=offset),
                spend=Decimal("0") if n == 2 else Decimal(50 if tie else 10 * n + offset),
                revenue=Decimal(120 if tie else 7 * n * offset % 300), conversions=Decimal(n % 5 if not tie else 2),
                clicks=0 if n == 4 else 40 + n, impressions=1000 + 10 * n * (not tie), leads=n % 2)
    other = TenantFactory()
    CampaignDailyMetricFactory(tenant=other, campaign=CampaignFactory(tenant=other), date=TODAY)
    return made


def _reference(tenant, ordering: str, date_range) -> list[tuple]:
    """The page as the ORM gave it: every campaign annotated with its sums and ratios, then ordered."""
    campaigns = with_metrics(campaign_queryset(tenant=tenant, filters=CampaignFilters()), date_range)
    name = ordering.lstrip("-")
    if name in METRIC_ORDERINGS:
        campaigns = campaigns.order_by(ordering, "-created_at", "id")
    else:
        campaigns = campaigns.order_by(("-" if ordering.startswith("-") else "") + FIELD_ORDERINGS[name], "id")
    return [(str(c.pk), *(metric_value(m, getattr(c, m)) for m in SHOWN)) for c in campaigns]


@pytest.mark.parametrize("period", [None, "7d"])
def test_every_ordering_gives_the_orm_order_and_figures(api_client, tenant, frozen, period):
    _world(tenant)
    date_range = DateRange(TODAY - dt.timedelta(days=6), TODAY) if period else None
    suffix = f"&period={period}" if period else ""
    for ordering in ORDERINGS:
        with tenant_scope(tenant):
            expected = _reference(tenant, ordering, date_range)
        got = []
        for page in (1, 2, 3):
            body = api_client.get(f"/api/v1/campaigns?ordering={ordering}&limit=4&page={page}{suffix}").json()
            assert body["total"] == 11 and body["pages"] == 3, body
            got += [(i["id"], *(i[m] for m in SHOWN)) for i in body["items"]]
        assert got == expected, ordering


@pytest.mark.parametrize("ordering", ["-created_at", "name", "-spend", "roas", "-cpa"])
@pytest.mark.parametrize("period", ["", "&period=30d"])
def test_one_query_for_any_page_size_or_data(api_client, tenant, frozen, ordering, period, django_assert_num_queries):
    _world(tenant, campaigns=8)
    for limit in (2, 7):
        with django_assert_num_queries(2):  # auth (user and tenant), then the page with its sums and the count
            body = api_client.get(f"/api/v1/campaigns?ordering={ordering}&limit={limit}{period}").json()
        assert len(body["items"]) == limit and body["total"] == 7
    _world(tenant, campaigns=30)
    for limit in (2, 30):
        with django_assert_num_queries(2):
            body = api_client.get(f"/api/v1/campaigns?ordering={ordering}&limit={limit}{period}").json()
        assert len(body["items"]) == limit and body["total"] == 7 + 29
    with django_assert_num_queries(3):  # past the last page: no rows carry the count, so it is asked for
        body = api_client.get(f"/api/v1/campaigns?ordering={ordering}&limit=30&page=9{period}").json()
    assert body["items"] == [] and body["total"] == 36


def test_items_are_what_the_serializer_gives(api_client, tenant, frozen):
    _world(tenant)
    items = api_client.get("/api/v1/campaigns?limit=20&ordering=name").json()["items"]
    with tenant_scope(tenant):
        campaigns = list(campaign_queryset(tenant=tenant, filters=CampaignFilters()).order_by("name", "id"))
        campaign_metrics_attach(tenant=tenant, campaigns=campaigns)
    assert [list(i) for i in items] == [list(CampaignListSerializer.Meta.fields)] * len(items)
    assert items == CampaignListSerializer(campaigns, many=True).data


def test_filters_and_tenant_apply_to_the_page_and_the_count(api_client, tenant, frozen):
    made = _world(tenant)
    other_account = AdAccountFactory(tenant=tenant, platform="google")
    google = CampaignFactory(tenant=tenant, ad_account=other_account, name="Search")
    CampaignDailyMetricFactory(tenant=tenant, campaign=google, date=TODAY, spend=Decimal("999"))
    body = api_client.get("/api/v1/campaigns?platform=google&ordering=-spend").json()
    assert body["total"] == 1 and [i["id"] for i in body["items"]] == [str(google.pk)]
    assert body["items"][0]["spend"] == 999.0
    body = api_client.get("/api/v1/campaigns?search=C0&ordering=-roas&limit=100").json()
    assert body["total"] == 9 and {i["id"] for i in body["items"]} == {str(c.pk) for c in made[:10] if c.name != "C05"}
    body = api_client.get("/api/v1/campaigns?status=deleted&ordering=spend").json()
    assert [i["id"] for i in body["items"]] == [str(made[5].pk)]


def test_every_filter_gives_the_orm_campaigns_page_and_count(tenant, frozen):
    """The statement's filter condition against `campaign_queryset` (the ORM's filters): same campaigns, same order,
    same count, for each filter and some combinations, LIKE wildcards and case in the search included."""
    from campaigns.selectors import campaign_list
    from tests.workflow.factories import ClientFactory

    made = _world(tenant)
    brand = ClientFactory(tenant=tenant)
    linked = AdAccountFactory(tenant=tenant, platform="google", client=brand)
    odd = CampaignFactory(tenant=tenant, ad_account=linked, name="100%_Brand Search", external_id="g-77",
                          status="paused")
    CampaignFactory(tenant=tenant, ad_account=linked, name="Brand draft", status="draft")
    cases = [CampaignFilters(), CampaignFilters(statuses=["deleted"]), CampaignFilters(statuses=["paused", "draft"]),
             CampaignFilters(platform="google"), CampaignFilters(platform="meta", statuses=["active", "deleted"]),
             CampaignFilters(search="c0"), CampaignFilters(search="BRAND"), CampaignFilters(search="100%_b"),
             CampaignFilters(search="%"), CampaignFilters(search="_"), CampaignFilters(search="g-77"),
             CampaignFilters(search="G-77"), CampaignFilters(ad_account_id=linked.pk),
             CampaignFilters(ad_account_id=made[0].ad_account_id, search="C1"), CampaignFilters(client_id=brand.pk),
             CampaignFilters(client_id=brand.pk, statuses=["draft"], platform="google", search="brand")]
    with tenant_scope(tenant):
        for filters in cases:
            expected = [str(pk) for pk in campaign_queryset(tenant=tenant, filters=filters)
                        .order_by("name", "id").values_list("id", flat=True)]
            for offset, limit in ((0, 100), (1, 2)):
                total, rows = campaign_list(tenant=tenant, filters=filters, ordering="name").page_with_total(
                    offset=offset, limit=limit)
                assert total == len(expected), filters
                assert [str(row["id"]) for row in rows] == expected[offset:offset + limit], filters
        assert [c.pk for c in campaign_queryset(tenant=tenant, filters=CampaignFilters(search="%"))] == [odd.pk]
