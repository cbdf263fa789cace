"""Slack as a notification channel: the user's or the tenant's incoming webhook, SSRF-guarded, retried
on 429/5xx only for the destinations that failed."""
from __future__ import annotations

import json

import pytest
import respx
from httpx import ConnectError, Response

from accounts.models import SlackDestination
from accounts.notifications import notification_send
from accounts.notifications.channels import slack_message
from stratum.api.crypto import secret_decrypt
from tests.accounts.factories import SlackDestinationFactory, UserFactory
from tests.helpers import assert_error, client_for, key_client_for

pytestmark = pytest.mark.django_db

TEAM_URL = "https://hooks.slack.com/services/T0001/B0001/teamteamteamteamteam"
OWN_URL = "https://hooks.slack.com/services/T0001/B0002/mineminemineminemine"
SLACK_ON = {"notifications": {"slack": {"all": True}}}


def _send(tenant, users, capture, title="Campaign paused: Summer Sale", body="Reason: low ROAS"):
    with capture(execute=True):
        notification_send(tenant=tenant, users=users, category="campaign_alerts", title=title, body=body)


class TestSlackApi:
    def test_user_sets_reads_and_deletes_their_own_url(self, api_client, tenant, user):
        assert api_client.get("/api/v1/notifications/slack").json()["configured"] is False
        response = api_client.put("/api/v1/notifications/slack", {"webhook_url": OWN_URL}, format="json")
        assert response.status_code == 200
        body = response.json()
        assert body["configured"] is True and body["url_hint"] == OWN_URL[:40] + "…"
        assert OWN_URL not in json.dumps(api_client.get("/api/v1/notifications/slack").json())
        row = SlackDestination.objects.for_tenant(tenant).get(user=user)
        assert OWN_URL not in row.url_encrypted and secret_decrypt(row.url_encrypted) == OWN_URL
        api_client.put("/api/v1/notifications/slack", {"webhook_url": TEAM_URL}, format="json")
        assert SlackDestination.objects.for_tenant(tenant).count() == 1  # replaced, not added
        assert api_client.delete("/api/v1/notifications/slack").status_code == 204
        assert not SlackDestination.objects.for_tenant(tenant).exists()

    def test_tenant_url_is_for_admins(self, tenant, user):
        viewer = client_for(UserFactory(tenant=tenant, role="viewer"))
        assert viewer.get("/api/v1/notifications/slack/tenant").status_code == 200
        assert_error(viewer.put("/api/v1/notifications/slack/tenant", {"webhook_url": TEAM_URL}, format="json"), 403)
        assert viewer.put("/api/v1/notifications/slack", {"webhook_url": OWN_URL}, format="json").status_code == 200
        owner = client_for(user)
        assert owner.put("/api/v1/notifications/slack/tenant", {"webhook_url": TEAM_URL},
                         format="json").json()["configured"] is True
        assert SlackDestination.objects.for_tenant(tenant).filter(user__isnull=True).count() == 1

    @pytest.mark.parametrize("url", ["http://hooks.slack.com/services/x", "https://10.0.0.1/services/x",
                                     "https://localhost/x", "javascript:alert(1)", "", "https://[fe80::1/x"])
    def test_unsafe_urls_are_a_422(self, api_client, settings, url):
        settings.DEBUG = False
        body = assert_error(api_client.put("/api/v1/notifications/slack", {"webhook_url": url}, format="json"), 422)
        assert "webhook_url" in body["errors"]

    def test_unknown_fields_and_scopes(self, api_client, user):
        assert_error(api_client.put("/api/v1/notifications/slack", {"webhook_url": OWN_URL, "channel": "#x"},
                                    format="json"), 422)
        assert_error(key_client_for(user, scopes=["read:notifications"]).put(
            "/api/v1/notifications/slack", {"webhook_url": OWN_URL}, format="json"), 403)


class TestSlackDelivery:
    @respx.mock
    def test_one_message_per_distinct_url(self, tenant, public_dns, django_capture_on_commit_callbacks):
        SlackDestinationFactory(tenant=tenant, url=TEAM_URL)
        alice = UserFactory(tenant=tenant, preferences=SLACK_ON)
        bob = UserFactory(tenant=tenant, preferences=SLACK_ON)
        carol = UserFactory(tenant=tenant, preferences=SLACK_ON)
        SlackDestinationFactory(tenant=tenant, user=carol, url=OWN_URL)
        UserFactory(tenant=tenant)  # Slack off by default
        team = respx.post(TEAM_URL).mock(return_value=Response(200, text="ok"))
        own = respx.post(OWN_URL).mock(return_value=Response(200, text="ok"))
        _send(tenant, [alice, bob, carol], django_capture_on_commit_callbacks)
        assert team.call_count == 1 and own.call_count == 1
        assert json.loads(team.calls[0].request.content) == {"text": "*Campaign paused: Summer Sale*\nReason: low ROAS"}
        shared = SlackDestination.objects.for_tenant(tenant).get(user__isnull=True)
        assert shared.last_success_at is not None and shared.last_error == ""

    @respx.mock
    def test_a_429_is_retried_for_that_url_only(self, tenant, public_dns, django_capture_on_commit_callbacks):
        SlackDestinationFactory(tenant=tenant, url=TEAM_URL)
        alice = UserFactory(tenant=tenant, preferences=SLACK_ON)
        carol = UserFactory(tenant=tenant, preferences=SLACK_ON)
        SlackDestinationFactory(tenant=tenant, user=carol, url=OWN_URL)
        team = respx.post(TEAM_URL).mock(side_effect=[Response(429, headers={"retry-after": "1"}),
                                                      Response(200, text="ok")])
        own = respx.post(OWN_URL).mock(return_value=Response(200, text="ok"))
        _send(tenant, [alice, carol], django_capture_on_commit_callbacks)
        assert team.call_count == 2 and own.call_count == 1

    @respx.mock
    def test_a_removed_slack_webhook_is_recorded_not_retried(self, tenant, public_dns,
                                                             django_capture_on_commit_callbacks):
        SlackDestinationFactory(tenant=tenant, url=TEAM_URL)
        alice = UserFactory(tenant=tenant, preferences=SLACK_ON)
        team = respx.post(TEAM_URL).mock(return_value=Response(404, text="no_service"))
        _send(tenant, [alice], django_capture_on_commit_callbacks)
        assert team.call_count == 1
        shared = SlackDestination.objects.for_tenant(tenant).get()
        assert shared.last_error == "Slack answered 404: no_service" and shared.last_failure_at is not None

    @respx.mock
    def test_network_failures_give_up_after_the_retries(self, tenant, public_dns, django_capture_on_commit_callbacks):
        SlackDestinationFactory(tenant=tenant, url=TEAM_URL)
        alice = UserFactory(tenant=tenant, preferences=SLACK_ON)
        team = respx.post(TEAM_URL).mock(side_effect=ConnectError("refused"))
        _send(tenant, [alice], django_capture_on_commit_callbacks)
        assert team.call_count == 5  # the first try and four retries
        assert SlackDestination.objects.for_tenant(tenant).get().last_error == "ConnectError: refused"

    def test_a_private_address_is_refused_at_sending(self, tenant, monkeypatch, django_capture_on_commit_callbacks):
        from stratum.api import net

        monkeypatch.setattr(net, "resolve", lambda host, port: ["127.0.0.1"])
        SlackDestinationFactory(tenant=tenant, url=TEAM_URL)
        _send(tenant, [UserFactory(tenant=tenant, preferences=SLACK_ON)], django_capture_on_commit_callbacks)
        assert SlackDestination.objects.for_tenant(tenant).get().last_error.startswith("Refused target:")

    def test_no_url_means_no_slack_message(self, tenant, django_capture_on_commit_callbacks):
        with respx.mock(assert_all_called=False) as mock:
            _send(tenant, [UserFactory(tenant=tenant, preferences=SLACK_ON)], django_capture_on_commit_callbacks)
            assert mock.calls.call_count == 0

    def test_message_text_is_escaped_for_slack(self):
        assert slack_message(title="A <b> & c", body="x > y") == {"text": "*A &lt;b&gt; &amp; c*\nx &gt; y"}
