"""Shared helpers in stratum/api: query parameters, the SSRF guard, CSV cells, notifications."""
import datetime

import httpx
import pytest
import respx

from accounts.models import Notification
from accounts.notifications import _channels, channel_register, notification_send
from stratum.api import net
from stratum.api.csvsafe import csv_safe
from stratum.api.exceptions import ValidationFailed
from stratum.api.params import parse_bool, parse_choice, parse_date_range, parse_number, parse_uuid
from tests.accounts.factories import UserFactory


class TestParams:
    def test_period_means_n_days_ending_today_in_the_tenant_zone(self, time_machine):
        time_machine.move_to(datetime.datetime(2026, 3, 10, 3, 0, tzinfo=datetime.UTC))
        # 03:00 UTC is still the 9th in Los Angeles
        r = parse_date_range({"period": "7d"}, tz="America/Los_Angeles")
        assert (r.start, r.end, r.days) == (datetime.date(2026, 3, 3), datetime.date(2026, 3, 9), 7)
        assert r.previous().end == datetime.date(2026, 3, 2)

    def test_explicit_dates(self):
        r = parse_date_range({"start_date": "2026-01-01", "end_date": "2026-01-31"})
        assert r.days == 31 and r.as_dict() == {"start_date": "2026-01-01", "end_date": "2026-01-31"}

    @pytest.mark.parametrize("params,field", [
        ({"period": "7"}, "period"), ({"period": "0d"}, "period"), ({"period": "weekly"}, "period"),
        ({"start_date": "2026-02-30"}, "start_date"), ({"start_date": "01/02/2026"}, "start_date"),
        ({"start_date": "2026-02-10", "end_date": "2026-02-01"}, "start_date"),
        ({"period": "7d", "start_date": "2026-01-01"}, "period"),
        ({"start_date": "2020-01-01", "end_date": "2026-01-01"}, "end_date"),
    ])
    def test_bad_ranges_are_422_naming_the_parameter(self, params, field):
        with pytest.raises(ValidationFailed) as info:
            parse_date_range(params)
        assert field in info.value.errors

    def test_scalars(self):
        assert parse_choice({"s": "a"}, "s", ["a", "b"]) == "a"
        assert parse_bool({"b": "false"}, "b") is False
        assert parse_number({"n": "2.5"}, "n", minimum=0) == 2.5
        for call in (lambda: parse_choice({"s": "c"}, "s", ["a"]), lambda: parse_bool({"b": "maybe"}, "b"),
                     lambda: parse_uuid({"u": "nope"}, "u"), lambda: parse_number({"n": "NaN"}, "n"),
                     lambda: parse_number({"n": "-1"}, "n", minimum=0)):
            with pytest.raises(ValidationFailed):
                call()


class TestSsrfGuard:
    @pytest.mark.parametrize("url", [
        "ftp://example.com/x", "https://localhost/hook", "https://127.0.0.1/x", "https://[::1]/x",
        "https://169.254.169.254/latest/meta-data", "https://10.0.0.5/x", "https://user:pw@example.com/x",
        "https://printer.local/x", "https://intranet/x", "https://[::ffff:127.0.0.1]/x", "https://0.0.0.0/x",
        "https://[::1/x", "https://[hooks]/x", "https://a]b/x",
    ])
    def test_refused_at_creation(self, url, settings):
        settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
        with pytest.raises(net.UnsafeTarget):
            net.validate_public_url(url)

    def test_plain_http_refused_outside_debug(self, settings):
        settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
        settings.DEBUG = False
        with pytest.raises(net.UnsafeTarget):
            net.validate_public_url("http://hooks.example.com/x")
        assert net.validate_public_url("https://hooks.example.com/x")

    def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(self, settings, monkeypatch):
        settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
        monkeypatch.setattr(net, "resolve", lambda host, port: ["10.1.2.3"])
        with pytest.raises(net.UnsafeTarget):
            net.safe_request("POST", "https://rebind.example.com/hook", content=b"{}")

    @respx.mock
    def test_public_target_is_called_without_following_redirects(self, settings, monkeypatch):
        settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
        monkeypatch.setattr(net, "resolve", lambda host, port: ["93.184.215.14"])
        respx.post("https://hooks.example.com/x").mock(
            return_value=httpx.Response(302, headers={"location": "http://127.0.0.1/admin"}))
        response = net.safe_request("POST", "https://hooks.example.com/x", content=b"{}")
        assert response.status_code == 302

    def test_private_targets_allowed_when_configured(self, settings):
        settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
        assert net.validate_public_url("http://127.0.0.1:9000/hook")
        assert net.vetted_addresses("127.0.0.1", 9000) == ["127.0.0.1"]


@pytest.mark.parametrize("value,expected", [
    ("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("-cmd", "'-cmd"), ("@x", "'@x"), ("plain", "plain"),
    (-5, "-5"), (None, ""), (True, "true"),
])
def test_csv_cells_never_start_a_formula(value, expected):
    assert csv_safe(value) == expected


@pytest.mark.django_db(transaction=False)
class TestNotifications:
    def test_in_app_rows_follow_preferences_and_channels_run_after_commit(self, tenant, django_capture_on_commit_callbacks):
        keen = UserFactory(tenant=tenant)
        quiet = UserFactory(tenant=tenant, preferences={"notifications": {"in_app": {"task_assigned": False}}})
        outsider = UserFactory()
        sent = []
        channel_register("test-channel", lambda **kw: sent.append(kw))
        try:
            with django_capture_on_commit_callbacks(execute=True):
                created = notification_send(tenant=tenant, users=[keen, quiet, outsider], category="task_assigned",
                                            title="Review the banner")
        finally:
            _channels.pop("test-channel", None)
        assert [n.user_id for n in created] == [keen.pk]
        assert Notification.objects.for_tenant(tenant).count() == 1
        assert sent == []  # the test channel defaults to off for every category

    def test_unknown_category_is_a_programming_error(self, tenant):
        with pytest.raises(ValueError):
            notification_send(tenant=tenant, users=[], category="nope", title="x")


class TestWorkerLeases:
    """The one rule both sync kinds use for "its worker died", in Python and in SQL."""

    def test_a_run_is_lost_once_its_last_beat_or_its_start_is_older_than_the_lease(self, tenant):
        from datetime import timedelta

        from django.utils import timezone

        from integrations.models import Connection, CrmSyncRun
        from stratum.api.leases import lease_expired, lease_expired_q
        from stratum.api.tenancy import tenant_scope

        now, lease = timezone.now(), timedelta(minutes=15)
        with tenant_scope(tenant):
            connection = Connection.objects.for_tenant(tenant).create(tenant=tenant, provider="hubspot", kind="crm")
            runs = {name: CrmSyncRun.objects.for_tenant(tenant).create(
                tenant=tenant, connection=connection, provider="hubspot", direction="pull", status="running",
                started_at=started, heartbeat_at=beat)
                for name, started, beat in [
                    ("fresh_beat", now - timedelta(hours=2), now - timedelta(minutes=1)),
                    ("silent", now - timedelta(hours=2), now - timedelta(minutes=15)),
                    ("no_beat_yet", now - timedelta(minutes=5), None),
                    ("never_beat", now - timedelta(minutes=20), None)]}
            lost = set(CrmSyncRun.objects.for_tenant(tenant).filter(lease_expired_q(now=now, lease=lease))
                       .values_list("pk", flat=True))
        assert lost == {runs["silent"].pk, runs["never_beat"].pk}
        assert {name for name, run in runs.items() if lease_expired(run, now=now, lease=lease)} == {
            "silent", "never_beat"}
