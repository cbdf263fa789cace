"""The shared metric definitions compute the same numbers in SQL as by hand."""
import datetime
from decimal import Decimal

import pytest
from django.db.models import Q

from campaigns.metrics import format_metrics, metric_ratios, metric_sums, ratios_from_totals
from campaigns.models import Campaign, CampaignDailyMetric
from tests.campaigns.factories import CampaignDailyMetricFactory, CampaignFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_days(scoped):
    campaign = CampaignFactory(tenant=scoped)
    CampaignDailyMetricFactory(tenant=scoped, campaign=campaign, date=datetime.date(2026, 3, 1), spend=Decimal("100"),
                               revenue=Decimal("450"), clicks=50, impressions=10_000, conversions=Decimal("4"),
                               landing_page_views=40, leads=2)
    CampaignDailyMetricFactory(tenant=scoped, campaign=campaign, date=datetime.date(2026, 3, 2), spend=Decimal("60.50"),
                               revenue=Decimal("0"), clicks=0, impressions=0, conversions=Decimal("0"),
                               landing_page_views=0, leads=0)
    empty = CampaignFactory(tenant=scoped)
    return campaign, empty


def test_aggregate_sums_and_ratios(two_days):
    totals = CampaignDailyMetric.objects.aggregate(**metric_sums())
    assert totals["spend"] == Decimal("160.50")
    assert totals["clicks"] == 50
    out = format_metrics(totals)
    assert out["spend"] == 160.5
    assert out["roas"] == round(450 / 160.5, 2)
    assert out["cpa"] == round(160.5 / 4, 2)
    assert out["ctr"] == 0.5  # 50 / 10,000 × 100
    assert out["cpm"] == round(160.5 / 10_000 * 1000, 2)
    assert out["cplpv"] == round(160.5 / 40, 2)


def test_annotated_ratios_are_zero_safe_and_match_python(two_days):
    campaign, empty = two_days
    rows = {c.pk: c for c in Campaign.objects.annotate(
        **metric_sums(path="daily_metrics__", filter=Q(daily_metrics__date__gte=datetime.date(2026, 3, 2)))
    ).annotate(**metric_ratios())}
    second_day = rows[campaign.pk]
    assert second_day.spend == Decimal("60.50") and second_day.roas == 0.0 and second_day.ctr == 0.0
    assert rows[empty.pk].spend == 0 and rows[empty.pk].roas == 0.0


def test_grouped_rows_with_suffix(two_days):
    campaign, _ = two_days
    row = (CampaignDailyMetric.objects.values("campaign_id").annotate(**metric_sums(suffix="_sum"))
           .annotate(**metric_ratios(suffix="_sum")).get(campaign_id=campaign.pk))
    assert row["roas"] == pytest.approx(450 / 160.5)
    assert ratios_from_totals(row, suffix="_sum")["roas"] == pytest.approx(row["roas"])


def test_the_list_figures_are_format_metrics_values():
    """The list's fast path gives what `format_metrics` gives for the same sums: zeros, ties, fractions, big numbers,
    integers from the totals table and Decimals from SUM()."""
    from itertools import product

    from campaigns.metrics import SUM_FIELDS, format_metrics, list_figures
    from campaigns.selectors.campaigns import LIST_METRICS

    counts = (0, 1, 7, 123456789012, Decimal("300"))
    money = (0, Decimal("0.00"), Decimal("0.01"), Decimal("2.50"), Decimal("1234567.89"), Decimal("3"))
    for impressions, clicks, spend, conversions, revenue in product(counts, counts[:3], money, money[:4], money[2:]):
        sums = dict(zip(SUM_FIELDS, (impressions, clicks, spend, conversions, revenue, 0, 0), strict=True))
        expected = format_metrics(sums, names=LIST_METRICS)
        got = list_figures(impressions, clicks, spend, conversions, revenue)
        assert got == expected and all(type(got[k]) is type(expected[k]) for k in expected), sums
