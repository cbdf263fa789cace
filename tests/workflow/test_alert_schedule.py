"""A scheduled alert fires through django-celery-beat at its local time, and only once per slot."""
import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django_celery_beat.schedulers import DatabaseScheduler

from stratum.api.tenancy import tenant_scope
from stratum.celery import app
from tests.accounts.factories import TenantFactory, UserFactory
from tests.campaigns.factories import AdAccountFactory, AdDailyMetricFactory, AdFactory, CampaignFactory
from tests.workflow.factories import ClientFactory, ClientMembershipFactory
from workflow.models import AlertInstance, Task
from workflow.services import alert_create
from workflow.tasks import alert_run_scheduled

LA = zoneinfo.ZoneInfo("America/Los_Angeles")


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 3, day, hour, minute, second, tzinfo=LA)


def run_beat(scheduler: DatabaseScheduler) -> None:
    """What `celery beat` does between sleeps: tick until nothing more is due right now."""
    for _ in range(50):
        if scheduler.tick() > 0:
            return
    raise AssertionError("beat kept finding due entries")


def counts(tenant):
    with tenant_scope(tenant):
        return AlertInstance.objects.count(), Task.objects.count()


@pytest.fixture
def beat(monkeypatch):
    """A database scheduler that sees only user-edited schedules (the alerts), not the fixed jobs of every app."""
    monkeypatch.setitem(app.conf, "beat_schedule", {})
    monkeypatch.setitem(app.conf, "result_expires", None)
    holder = {}
    yield lambda: holder.setdefault("scheduler", DatabaseScheduler(app=app))
    if "scheduler" in holder:
        holder["scheduler"]._finalize.cancel()  # no sync at interpreter exit, after the test database is gone


@pytest.mark.django_db(transaction=True)
def test_daily_alert_fires_at_its_local_time_exactly_once(time_machine, beat):
    time_machine.move_to(local(10, 3), tick=False)
    tenant = TenantFactory(settings={"timezone": "America/Los_Angeles", "currency": "USD"})
    UserFactory(tenant=tenant, role="owner")
    brand = ClientFactory(tenant=tenant)
    reviewer = UserFactory(tenant=tenant, role="analyst")
    ClientMembershipFactory(tenant=tenant, client=brand, user=reviewer, role="admin")
    ad = AdFactory(tenant=tenant, campaign=CampaignFactory(
        tenant=tenant, ad_account=AdAccountFactory(tenant=tenant, client=brand)), name="Costly ad")
    for offset in range(10):  # 2026-03-01 … 03-10: 100 spent per landing-page view
        AdDailyMetricFactory(tenant=tenant, ad=ad, date=datetime.date(2026, 3, 1) + datetime.timedelta(days=offset),
                             spend=Decimal("100"), landing_page_views=1)
    with tenant_scope(tenant):
        alert = alert_create(tenant=tenant, client=brand, name="High CPLPV Alert", alert_type="cplpv",
                             condition_config={"field": "cplpv", "operator": "greater_than", "value": 50},
                             action_config={"create_task": True, "assignees": [str(reviewer.pk)]},
                             frequency={"type": "daily", "time": "05:00", "timezone": "America/Los_Angeles"})
    scheduler = beat()

    run_beat(scheduler)  # 03:00 local
    time_machine.move_to(local(10, 4, 59, 30), tick=False)
    run_beat(scheduler)
    assert counts(tenant) == (0, 0)

    time_machine.move_to(local(10, 5, 0, 5), tick=False)  # 12:00:05 UTC
    run_beat(scheduler)
    assert counts(tenant) == (1, 1)
    with tenant_scope(tenant):
        instance = AlertInstance.objects.get()
        assert instance.triggered_on == datetime.date(2026, 3, 10)
        assert instance.alert_data["ad_name"] == "Costly ad" and instance.alert_data["cplpv"] == 100.0
        assert list(Task.objects.get().assignees.all()) == [reviewer]

    time_machine.move_to(local(10, 5, 0, 40), tick=False)
    run_beat(scheduler)
    # the same beat message delivered twice (a worker died after running it): the slot is already served
    assert alert_run_scheduled.delay(alert_id=str(alert.pk), tenant_id=str(tenant.pk)).get()["skipped"] is True
    assert counts(tenant) == (1, 1)
    with tenant_scope(tenant):
        assert AlertInstance.objects.get().occurrences == 1

    time_machine.move_to(local(10, 23, 0), tick=False)
    run_beat(scheduler)
    time_machine.move_to(local(11, 5, 0, 5), tick=False)  # next day: the open instance is seen again
    run_beat(scheduler)
    assert counts(tenant) == (1, 1)
    with tenant_scope(tenant):
        assert AlertInstance.objects.get().occurrences == 2


@pytest.mark.django_db(transaction=True)
def test_weekly_alert_fires_on_its_weekday_and_hourly_every_hour(time_machine, beat):
    time_machine.move_to(local(10, 3), tick=False)  # Tuesday 2026-03-10
    tenant = TenantFactory(settings={"timezone": "America/Los_Angeles", "currency": "USD"})
    brand = ClientFactory(tenant=tenant)
    ad = AdFactory(tenant=tenant, campaign=CampaignFactory(
        tenant=tenant, ad_account=AdAccountFactory(tenant=tenant, client=brand)))
    for offset in range(12):
        AdDailyMetricFactory(tenant=tenant, ad=ad, date=datetime.date(2026, 3, 1) + datetime.timedelta(days=offset),
                             spend=Decimal("100"), landing_page_views=1)
    with tenant_scope(tenant):
        weekly = alert_create(tenant=tenant, client=brand, name="Weekly", alert_type="cplpv",
                              condition_config={"operator": "greater_than", "value": 50},
                              frequency={"type": "weekly", "time": "05:00", "day_of_week": "wednesday",
                                         "timezone": "America/Los_Angeles"})
        hourly = alert_create(tenant=tenant, client=brand, name="Hourly", alert_type="cplpv",
                              condition_config={"operator": "greater_than", "value": 50},
                              frequency={"type": "hourly", "timezone": "America/Los_Angeles"})
    scheduler = beat()
    run_beat(scheduler)
    for when in (local(10, 4, 0, 5), local(10, 5, 0, 5), local(11, 4, 0, 5), local(11, 5, 0, 5)):
        time_machine.move_to(when, tick=False)
        run_beat(scheduler)
    with tenant_scope(tenant):
        weekly.refresh_from_db()
        hourly.refresh_from_db()
        assert weekly.last_scheduled_slot == "2026-03-11"  # Wednesday only
        assert hourly.last_scheduled_slot == "2026-03-11T05"
        assert AlertInstance.objects.filter(alert=weekly).count() == 1
        assert AlertInstance.objects.get(alert=hourly).occurrences == 4  # 04:00 and 05:00 on both days
