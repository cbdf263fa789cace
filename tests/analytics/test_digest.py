"""The weekly digest: due on Monday 08:00 tenant time, last week's figures against the week before, once."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail

from accounts.models import Notification
from analytics import digest
from analytics.models import DigestRun
from analytics.tasks import weekly_digests
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.campaigns.factories import CampaignDailyMetricFactory, CampaignFactory

pytestmark = pytest.mark.django_db

MONDAY_0830_BERLIN = dt.datetime(2026, 1, 19, 7, 30, tzinfo=dt.UTC)
WEEK = dt.date(2026, 1, 12)


@pytest.fixture
def berlin(db):
    tenant = TenantFactory(settings={"timezone": "Europe/Berlin", "currency": "EUR"})
    alpha = CampaignFactory(tenant=tenant, name="Alpha")
    beta = CampaignFactory(tenant=tenant, name="Beta")
    for day in range(7):
        CampaignDailyMetricFactory(tenant=tenant, campaign=alpha, date=WEEK + dt.timedelta(days=day),
                                   spend=Decimal("100"), revenue=Decimal("400"), conversions=Decimal("5"))
        CampaignDailyMetricFactory(tenant=tenant, campaign=alpha, date=WEEK - dt.timedelta(days=7 - day),
                                   spend=Decimal("80"), revenue=Decimal("160"), conversions=Decimal("2"))
    for day in (0, 1):
        CampaignDailyMetricFactory(tenant=tenant, campaign=beta, date=WEEK + dt.timedelta(days=day),
                                   spend=Decimal("50"), revenue=Decimal("100"), conversions=Decimal("5"))
    CampaignDailyMetricFactory(tenant=tenant, campaign=beta, date=WEEK + dt.timedelta(days=7),
                               spend=Decimal("999"), revenue=Decimal("0"))  # this week: not in the digest
    return tenant


def test_due_on_monday_from_8_local(berlin):
    assert digest.digest_week_due(tenant=berlin, now=MONDAY_0830_BERLIN) == WEEK
    assert digest.digest_week_due(tenant=berlin, now=MONDAY_0830_BERLIN - dt.timedelta(hours=1)) is None
    new_york = TenantFactory(settings={"timezone": "America/New_York"})
    assert digest.digest_week_due(tenant=new_york, now=MONDAY_0830_BERLIN) is None  # 02:30 there
    assert digest.digest_week_due(tenant=new_york, now=MONDAY_0830_BERLIN + dt.timedelta(hours=6)) == WEEK


def test_summary_figures(berlin, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        summary = digest.weekly_summary(tenant=berlin, week_start=WEEK)
    assert summary["week_start"] == "2026-01-12" and summary["week_end"] == "2026-01-18"
    assert {k: summary["this_week"][k] for k in ("spend", "revenue", "conversions", "roas")} == {
        "spend": 800.0, "revenue": 3000.0, "conversions": 45, "roas": 3.75}
    assert {k: summary["previous_week"][k] for k in ("spend", "revenue", "roas")} == {
        "spend": 560.0, "revenue": 1120.0, "roas": 2.0}
    assert summary["change_percent"] == {"spend": 42.9, "revenue": 167.9, "roas": 87.5}
    assert summary["campaigns_with_spend"] == 2
    assert [(c["name"], c["spend"], c["roas"]) for c in summary["top_campaigns"]] == [
        ("Alpha", 700.0, 4.0), ("Beta", 100.0, 2.0)]


def test_the_job_sends_once_to_each_user_by_their_preferences(berlin, time_machine,
                                                               django_capture_on_commit_callbacks):
    time_machine.move_to(MONDAY_0830_BERLIN, tick=False)
    reader = UserFactory(tenant=berlin)
    no_mail = UserFactory(tenant=berlin, preferences={"notifications": {"email": {"weekly_digest": False}}})
    TenantFactory(settings={"timezone": "UTC"})  # 07:30 there: not yet
    with django_capture_on_commit_callbacks(execute=True):
        assert weekly_digests.delay().get() == 1
    notes = Notification.objects.for_tenant(berlin).filter(category="weekly_digest")
    assert {n.user_id for n in notes} == {reader.pk, no_mail.pk}
    note = notes.first()
    assert note.title == "Your week in Stratum: 12 Jan – 18 Jan 2026"
    assert note.body == (
        "Spend: EUR 800.00 (+42.9% vs the week before)\n"
        "Revenue: EUR 3,000.00 (+167.9% vs the week before)\n"
        "ROAS: 3.75 (+87.5% vs the week before)\n"
        "Conversions: 45\n"
        "Campaigns with spend: 2\n\n"
        "Top campaigns by spend:\n"
        "1. Alpha — EUR 700.00, ROAS 4.00\n"
        "2. Beta — EUR 100.00, ROAS 2.00")
    assert note.data["digest"]["this_week"]["spend"] == 800.0
    assert [m.to for m in mail.outbox] == [[reader.email]]
    run = DigestRun.objects.for_tenant(berlin).get()
    assert (run.week_start, run.recipients) == (WEEK, 2)
    with django_capture_on_commit_callbacks(execute=True):
        assert weekly_digests.delay().get() == 0  # already sent this week
    with tenant_scope(berlin):
        assert digest.weekly_digest_send(tenant=berlin, week_start=WEEK) is None
    assert Notification.objects.for_tenant(berlin).filter(category="weekly_digest").count() == 2


def test_a_quiet_week_says_so(time_machine):
    tenant = TenantFactory(settings={"timezone": "UTC"})
    UserFactory(tenant=tenant)
    with tenant_scope(tenant):
        digest.weekly_digest_send(tenant=tenant, week_start=WEEK)
    note = Notification.objects.for_tenant(tenant).get()
    assert note.body == "No campaign spend or revenue was recorded last week."
