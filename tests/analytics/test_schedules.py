"""Report schedules: celery beat entries in the tenant's time zone, e-mailed exactly once at the local time, held
(with a notification) when the data is stale or signal health is unhealthy."""
from __future__ import annotations

import datetime as dt
import io
import smtplib
import zoneinfo

import pytest
from django.core import mail
from django.test import TestCase
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

import analytics.tasks  # noqa: F401  (a worker autodiscovers the tasks at start)
from accounts.models import Notification
from analytics.models import Report, ReportDelivery, ReportSchedule
from analytics.reporting.schedules import next_run_at, schedule_period, schedule_slot
from stratum.celery import app as celery_app
from tests.accounts.factories import TenantFactory, UserFactory
from tests.campaigns.factories import AdAccountFactory, CampaignFactory
from tests.helpers import assert_error
from tests.ops.mail_backends import FAILURES

from .conftest import NOW, daily_metrics
from .factories import ReportFactory, ReportScheduleFactory

pypdf = pytest.importorskip("pypdf")

URL = "/api/v1/reporting/schedules"
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)


def beat_tick(task_name: str) -> bool:
    """What celery beat does for one entry: run it when due, then remember the run. The task's transaction commits
    when it ends, which sends what it queued after the commit (the mail)."""
    task = PeriodicTask.objects.get(name=task_name)
    entry = ModelEntry(task, app=celery_app)
    due, _ = entry.is_due()
    if due:
        entry = next(entry)
        entry.save()
        with TestCase.captureOnCommitCallbacks(execute=True):
            celery_app.tasks[task.task].apply(kwargs=entry.kwargs).get()
    return due


@pytest.fixture
def new_york(tenant):
    tenant.settings = {"timezone": "America/New_York", "currency": "USD"}
    tenant.save()
    return tenant


@pytest.fixture
def fresh_data(new_york):
    """An account synced a moment ago with data through today."""
    account = AdAccountFactory(tenant=new_york, name="Northwind", last_synced_at=NOW, timezone="America/New_York")
    campaign = CampaignFactory(tenant=new_york, ad_account=account, name="Summer Sale — Prospecting")
    today = NOW.astimezone(NEW_YORK).date()
    daily_metrics(campaign, [(today - dt.timedelta(days=d), 200, 700, 9, 20000, 300) for d in range(0, 40)])
    return account


@pytest.fixture
def report(new_york):
    return ReportFactory(tenant=new_york, name="Weekly performance", status="ready")


def schedule_body(report, **extra):
    return {"report_id": str(report.pk), "frequency": "weekly", "day_of_week": "wednesday", "time": "11:30",
            "recipients": ["cmo@brand.example", "CMO@brand.example", "team@agency.example"], **extra}


class TestDefinition:
    def test_create_makes_a_beat_entry_in_the_tenant_zone(self, api_client, new_york, report):
        response = api_client.post(URL, schedule_body(report), format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["timezone"] == "America/New_York" and body["time"] == "11:30"
        assert body["recipients"] == ["cmo@brand.example", "team@agency.example"]  # de-duplicated, lower-cased
        assert body["next_run_at"] == "2026-03-18T15:30:00.000000Z"  # 11:30 EDT today
        assert body["last_delivery"] is None
        task = PeriodicTask.objects.get(name=f"analytics.report_schedule.{body['id']}")
        crontab = task.crontab
        assert (crontab.minute, crontab.hour, crontab.day_of_week, crontab.day_of_month) == ("30", "11", "3", "*")
        assert str(crontab.timezone) == "America/New_York" and task.enabled
        monthly = api_client.patch(f"{URL}/{body['id']}", {"frequency": "monthly", "day_of_month": 1,
                                                           "time": "08:00"}, format="json").json()
        assert monthly["day_of_week"] is None and monthly["day_of_month"] == 1
        task.refresh_from_db()
        assert (task.crontab.day_of_month, task.crontab.day_of_week, task.crontab.hour) == ("1", "*", "8")
        paused = api_client.patch(f"{URL}/{body['id']}", {"is_active": False}, format="json").json()
        assert paused["next_run_at"] is None
        task.refresh_from_db()
        assert task.enabled is False
        assert api_client.delete(f"{URL}/{body['id']}").status_code == 204
        assert not PeriodicTask.objects.filter(name__startswith="analytics.report_schedule.").exists()

    @pytest.mark.parametrize("change, field", [
        ({"frequency": "hourly"}, "frequency"), ({"time": "9am"}, "time"), ({"time": "24:00"}, "time"),
        ({"day_of_week": None}, "day_of_week"), ({"recipients": []}, "recipients"),
        ({"recipients": ["not-an-email"]}, "recipients[0]"), ({"recipients": [f"r{i}@x.example" for i in range(21)]},
                                                             "recipients"),
        ({"timezone": "Mars/Olympus"}, "timezone"), ({"frequency": "monthly", "day_of_month": 31}, "day_of_month"),
        ({"report_id": "00000000-0000-0000-0000-000000000000"}, "report_id"), ({"cron": "* * * * *"}, "cron"),
    ])
    def test_bad_schedules_are_422(self, api_client, report, change, field):
        error = assert_error(api_client.post(URL, {**schedule_body(report), **change}, format="json"), 422)
        assert field in error["errors"], error
        assert not ReportSchedule.objects.unscoped().exists() and not PeriodicTask.objects.filter(
            name__startswith="analytics.").exists()

    def test_gate_and_roles(self, db, tenant, report, make_client):
        analyst = make_client(UserFactory(tenant=tenant, role="analyst"))
        assert_error(analyst.post(URL, schedule_body(report), format="json"), 403, "FORBIDDEN")
        professional = make_client(UserFactory(tenant=TenantFactory(plan="professional")))
        assert_error(professional.get(URL), 403, "FEATURE_NOT_AVAILABLE")

    def test_slots_and_periods(self, new_york, report):
        weekly = ReportScheduleFactory(tenant=new_york, report=report, frequency="weekly", day_of_week="monday",
                                       time=dt.time(9), timezone="America/New_York")
        slot = schedule_slot(schedule=weekly, now=NOW)  # Wednesday 11:00 → last Monday 09:00
        assert slot == local(2026, 3, 16, 9, 0)
        period = schedule_period(schedule=weekly, slot=slot)
        assert (period.start, period.end) == (dt.date(2026, 3, 9), dt.date(2026, 3, 15))
        monthly = ReportScheduleFactory(tenant=new_york, report=report, frequency="monthly", day_of_week="",
                                        day_of_month=1, time=dt.time(8), timezone="America/New_York")
        period = schedule_period(schedule=monthly, slot=schedule_slot(schedule=monthly, now=NOW))
        assert (period.start, period.end) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
        assert next_run_at(schedule=monthly, now=NOW) == local(2026, 4, 1, 8).astimezone(dt.UTC)
        daily = ReportScheduleFactory(tenant=new_york, report=report, frequency="daily", day_of_week="",
                                      time=dt.time(6, 15), timezone="Europe/Berlin")
        assert schedule_slot(schedule=daily, now=NOW).isoformat() == "2026-03-18T06:15:00+01:00"


@pytest.fixture
def flaky_smtp(settings):
    """An SMTP server that fails the first FAILURES["left"] sends; tasks run in-process as a worker runs them (a
    retry runs again, a failure is recorded rather than raised into the caller)."""
    settings.EMAIL_BACKEND = "tests.ops.mail_backends.FlakySMTPBackend"
    FAILURES.update(left=0, attempts=0, error=smtplib.SMTPServerDisconnected)
    propagates = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    yield FAILURES
    celery_app.conf.task_eager_propagates = propagates


class TestDelivery:
    def test_sent_at_its_local_time_exactly_once(self, api_client, time_machine, new_york, fresh_data, report, user,
                                                 make_client):
        schedule_id = api_client.post(URL, schedule_body(report), format="json").json()["id"]
        name = f"analytics.report_schedule.{schedule_id}"
        time_machine.move_to(local(2026, 3, 18, 11, 29), tick=False)
        assert beat_tick(name) is False and mail.outbox == []
        time_machine.move_to(local(2026, 3, 18, 11, 30, 5), tick=False)
        assert beat_tick(name) is True
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["cmo@brand.example", "team@agency.example"]
        assert message.subject == "Weekly performance — 2026-03-11 to 2026-03-17"
        [(filename, content, mimetype)] = message.attachments
        assert filename == "weekly-performance-2026-03-11-2026-03-17.pdf" and mimetype == "application/pdf"
        text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)
        assert "Summer Sale — Prospecting" in text and "$1,400" in text  # 7 days × $200
        # a duplicated beat message, or the task retried, sends nothing more
        celery_app.tasks["analytics.tasks.report_schedule_run"].apply(
            kwargs={"schedule_id": schedule_id, "tenant_id": str(new_york.pk)}).get()
        time_machine.move_to(local(2026, 3, 18, 11, 45), tick=False)
        assert beat_tick(name) is False
        assert len(mail.outbox) == 1
        delivery = ReportDelivery.objects.unscoped().get()
        assert delivery.status == "sent" and delivery.slot == local(2026, 3, 18, 11, 30)
        rendering = Report.objects.unscoped().get(pk=delivery.rendering_id)
        assert (rendering.start_date, rendering.end_date, rendering.schedule_id) == (
            dt.date(2026, 3, 11), dt.date(2026, 3, 17), delivery.schedule_id)
        listed = make_client(user).get(f"{URL}/{schedule_id}").json()  # (a new token: 45 minutes went by)
        assert listed["last_delivery"]["status"] == "sent"
        assert listed["next_run_at"] == "2026-03-25T15:30:00.000000Z"

    def test_held_when_an_account_has_not_reported_the_period(self, api_client, time_machine, new_york, report,
                                                              user):
        account = AdAccountFactory(tenant=new_york, name="Laggard", last_synced_at=NOW, timezone="America/New_York")
        campaign = CampaignFactory(tenant=new_york, ad_account=account)
        daily_metrics(campaign, [(dt.date(2026, 3, 1) + dt.timedelta(days=d), 100, 300, 3, 1000, 20)
                                 for d in range(14)])  # newest: March 14
        schedule_id = api_client.post(URL, schedule_body(report), format="json").json()["id"]
        time_machine.move_to(local(2026, 3, 18, 11, 30), tick=False)
        assert beat_tick(f"analytics.report_schedule.{schedule_id}") is True
        # no report to the recipients; the admins' notification goes out by e-mail too (their preference)
        assert [(m.to, m.subject) for m in mail.outbox] == [([user.email],
                                                             "[Stratum] Scheduled report held: Weekly performance")]
        delivery = ReportDelivery.objects.unscoped().get()
        assert delivery.status == "held" and delivery.rendering_id is None
        assert "Laggard: no data for 2026-03-17 yet (newest: 2026-03-14)." in delivery.reasons
        notice = Notification.objects.unscoped().get(user=user)
        assert notice.category == "signal_alerts" and notice.title == "Scheduled report held: Weekly performance"
        assert "Laggard" in notice.body and notice.data["schedule_id"] == schedule_id

    def test_held_when_signal_health_is_unhealthy(self, new_york, scoped, report, user):
        AdAccountFactory(tenant=new_york, name="Never synced", last_synced_at=None)
        schedule = ReportScheduleFactory(tenant=new_york, report=report, day_of_week="wednesday", time=dt.time(11),
                                         timezone="America/New_York", created_by=user)
        from analytics.reporting.schedules import schedule_run

        delivery = schedule_run(tenant=new_york, schedule=schedule)
        assert delivery.status == "held" and mail.outbox == []
        assert any(reason.startswith("Signal health is unhealthy") for reason in delivery.reasons)
        assert "Never synced: never synced." in delivery.reasons

    def test_run_now_and_deliveries(self, api_client, new_york, fresh_data, report, django_capture_on_commit_callbacks):
        schedule_id = api_client.post(URL, schedule_body(report, frequency="daily", day_of_week=None),
                                      format="json").json()["id"]
        with django_capture_on_commit_callbacks(execute=True):
            delivery = api_client.post(f"{URL}/{schedule_id}/run").json()
            assert delivery["status"] == "queued" and mail.outbox == []  # the mail leaves after the commit
        assert len(mail.outbox) == 1
        assert mail.outbox[0].subject == "Weekly performance — 2026-03-17 to 2026-03-17"  # daily: yesterday
        history = api_client.get(f"{URL}/{schedule_id}/deliveries").json()
        assert history["total"] == 1 and history["items"][0]["id"] == delivery["id"]
        assert history["items"][0]["status"] == "sent"

    def test_the_mail_goes_through_the_mail_task_retried_when_smtp_fails(self, api_client, new_york, fresh_data, report,
                                                                        flaky_smtp, django_capture_on_commit_callbacks):
        flaky_smtp["left"] = 2
        schedule_id = api_client.post(URL, schedule_body(report, frequency="daily", day_of_week=None),
                                      format="json").json()["id"]
        with django_capture_on_commit_callbacks(execute=True):
            assert api_client.post(f"{URL}/{schedule_id}/run").json()["status"] == "queued"
        assert flaky_smtp["attempts"] == 3 and len(mail.outbox) == 1
        [(filename, _, mimetype)] = mail.outbox[0].attachments
        assert (filename, mimetype) == ("weekly-performance-2026-03-17-2026-03-17.pdf", "application/pdf")
        [delivery] = api_client.get(f"{URL}/{schedule_id}/deliveries").json()["items"]
        assert (delivery["status"], delivery["error"]) == ("sent", "")
        assert not Notification.objects.unscoped().filter(title__startswith="Scheduled report failed").exists()

    def test_smtp_down_for_good_fails_the_delivery_once_and_tells_the_admins(
            self, api_client, new_york, fresh_data, report, user, flaky_smtp, settings,
            django_capture_on_commit_callbacks):
        flaky_smtp["left"] = 1000
        schedule_id = api_client.post(URL, schedule_body(report, frequency="daily", day_of_week=None),
                                      format="json").json()["id"]
        with django_capture_on_commit_callbacks(execute=True):
            api_client.post(f"{URL}/{schedule_id}/run")
        # the report's mail, then the admins' e-mailed notification of its failure: each tried 1 + MAIL_MAX_RETRIES times
        assert flaky_smtp["attempts"] == 2 * (settings.MAIL_MAX_RETRIES + 1) and mail.outbox == []
        [delivery] = api_client.get(f"{URL}/{schedule_id}/deliveries").json()["items"]
        assert delivery["status"] == "failed"
        assert delivery["error"] == "SMTPServerDisconnected: Connection unexpectedly closed"
        [notice] = Notification.objects.unscoped().filter(user=user, title="Scheduled report failed: Weekly performance")
        assert notice.body == delivery["error"] and notice.data["schedule_id"] == schedule_id
        from analytics.reporting.schedules import delivery_outcome_record

        again = delivery_outcome_record(tenant=new_york, delivery_id=delivery["id"], sent=True)
        assert again.status == "failed"  # the outcome is recorded once; a late word changes nothing
        assert Notification.objects.unscoped().filter(title__startswith="Scheduled report failed").count() == 1

    def test_a_mail_the_broker_refused_fails_its_delivery_at_the_sweep(self, new_york, fresh_data, report, user,
                                                                        monkeypatch, time_machine, settings):
        """In a worker (the beat's run), a refused publish is logged, not raised: the delivery would read `queued`
        for ever. The hourly sweep fails it once the mail task's longest retry window has passed, tells the admins."""
        from kombu.exceptions import OperationalError

        from analytics.reporting.schedules import schedule_run
        from analytics.tasks import report_deliveries_unanswered
        from stratum.api.mail import mail_outcome_deadline
        from stratum.api.tenancy import tenant_scope

        schedule = ReportScheduleFactory(tenant=new_york, report=report, day_of_week="wednesday",
                                         time=dt.time(10, 30), timezone="America/New_York")

        def refuse(self, *args, **kwargs):
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        with monkeypatch.context() as patch:
            patch.setattr("celery.app.task.Task.apply_async", refuse)
            with TestCase.captureOnCommitCallbacks(execute=True), tenant_scope(new_york):
                delivery = schedule_run(tenant=new_york, schedule=schedule)
        assert delivery.status == "queued" and mail.outbox == []
        assert mail_outcome_deadline() == dt.timedelta(hours=settings.MAIL_MAX_RETRIES + 2)
        time_machine.shift(mail_outcome_deadline() - dt.timedelta(minutes=1))
        assert report_deliveries_unanswered.apply().get() == 0  # the mail task may still be retrying
        time_machine.shift(dt.timedelta(minutes=2))
        assert report_deliveries_unanswered.apply().get() == 1
        delivery.refresh_from_db()
        assert delivery.status == "failed" and "never reported" in delivery.error
        [notice] = Notification.objects.unscoped().filter(user=user, title="Scheduled report failed: Weekly performance")
        assert notice.body == delivery.error
        assert report_deliveries_unanswered.apply().get() == 0  # once only
        assert Notification.objects.unscoped().filter(title__startswith="Scheduled report failed").count() == 1

    def test_late_slots_are_skipped_and_inactive_schedules_do_nothing(self, new_york, scoped, fresh_data, report):
        from analytics.reporting.schedules import schedule_run

        schedule = ReportScheduleFactory(tenant=new_york, report=report, day_of_week="wednesday", time=dt.time(4),
                                         timezone="America/New_York")
        assert schedule_run(tenant=new_york, schedule=schedule) is None  # slot 04:00, now 11:00: 7 h late
        schedule.time, schedule.is_active = dt.time(10, 30), False
        schedule.save()
        assert schedule_run(tenant=new_york, schedule=schedule) is None
        assert not ReportDelivery.objects.exists() and mail.outbox == []
