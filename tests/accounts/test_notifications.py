"""Notifications: the spec's endpoints (list, read, mark-all-read, preferences), and domain events
fanned out to users by their preferences."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Notification
from accounts.notifications import (
    EVENT_CATEGORIES,
    channel_enabled,
    notification_event_fanout,
    notification_preferences_get,
    notification_send,
)
from stratum.api.outbox import WEBHOOK_EVENTS, emit
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import NotificationFactory, UserFactory
from tests.helpers import assert_error, client_for, key_client_for

pytestmark = pytest.mark.django_db

CATEGORIES = ["campaign_alerts", "budget_alerts", "signal_alerts", "task_assigned", "weekly_digest", "sync_alerts"]


def _notes(tenant, user, count, **kwargs):
    now = timezone.now()
    notes = []
    for n in range(count):
        note = NotificationFactory(tenant=tenant, user=user, **kwargs)
        Notification.objects.for_tenant(tenant).filter(pk=note.pk).update(created_at=now - timedelta(minutes=n))
        notes.append(note)
    return notes


class TestList:
    def test_newest_first_paginated_with_unread_only(self, api_client, tenant, user, django_assert_max_num_queries):
        notes = _notes(tenant, user, 5)
        Notification.objects.for_tenant(tenant).filter(pk=notes[0].pk).update(read_at=timezone.now())
        NotificationFactory(tenant=tenant)  # a colleague's
        NotificationFactory()  # another tenant's
        with django_assert_max_num_queries(8):
            body = api_client.get("/api/v1/notifications?page=1&limit=2").json()
        assert (body["total"], body["page"], body["pages"], body["limit"]) == (5, 1, 3, 2)
        assert [item["id"] for item in body["items"]] == [str(notes[0].pk), str(notes[1].pk)]
        assert set(body["items"][0]) == {"id", "category", "title", "body", "data", "is_read", "read_at", "created_at"}
        assert body["items"][0]["is_read"] is True and body["items"][1]["is_read"] is False
        unread = api_client.get("/api/v1/notifications?unread_only=true&page=1&limit=20").json()
        assert unread["total"] == 4 and all(not item["is_read"] for item in unread["items"])

    def test_category_filter_and_bad_parameters(self, api_client, tenant, user):
        _notes(tenant, user, 2)
        _notes(tenant, user, 1, category="budget_alerts")
        assert api_client.get("/api/v1/notifications?category=budget_alerts").json()["total"] == 1
        assert_error(api_client.get("/api/v1/notifications?category=gossip"), 422)
        assert_error(api_client.get("/api/v1/notifications?unread_only=perhaps"), 422)
        assert_error(api_client.get("/api/v1/notifications?limit=101"), 422)

    def test_api_key_needs_the_notifications_scope(self, user, tenant):
        _notes(tenant, user, 1)
        assert key_client_for(user, scopes=["read:notifications"]).get("/api/v1/notifications").json()["total"] == 1
        assert_error(key_client_for(user, scopes=["read:campaigns"]).get("/api/v1/notifications"), 403)
        assert_error(key_client_for(user, scopes=["read:notifications"]).post("/api/v1/notifications/mark-all-read"),
                     403)


class TestRead:
    def test_mark_one_read(self, tenant, user):
        client = client_for(UserFactory(tenant=tenant, role="viewer"))
        note = NotificationFactory(tenant=tenant, user=client.user)
        response = client.post(f"/api/v1/notifications/{note.pk}/read")
        assert response.status_code == 200
        assert response.json()["is_read"] is True and response.json()["read_at"]
        first_read = Notification.objects.for_tenant(tenant).get(pk=note.pk).read_at
        client.post(f"/api/v1/notifications/{note.pk}/read")  # idempotent: the first read time stays
        assert Notification.objects.for_tenant(tenant).get(pk=note.pk).read_at == first_read

    def test_someone_elses_notification_is_a_404(self, api_client, tenant):
        colleague_note = NotificationFactory(tenant=tenant)
        foreign_note = NotificationFactory()
        for note in (colleague_note, foreign_note):
            assert_error(api_client.post(f"/api/v1/notifications/{note.pk}/read"), 404, "NOT_FOUND")
        assert not Notification.objects.unscoped().filter(read_at__isnull=False).exists()

    def test_mark_all_read_touches_only_mine(self, api_client, tenant, user):
        _notes(tenant, user, 3)
        colleague = NotificationFactory(tenant=tenant)
        response = api_client.post("/api/v1/notifications/mark-all-read")
        assert response.json() == {"updated": 3}
        assert api_client.post("/api/v1/notifications/mark-all-read").json() == {"updated": 0}
        colleague.refresh_from_db()
        assert colleague.read_at is None


class TestPreferences:
    def test_defaults_are_resolved_for_every_channel_and_category(self, api_client):
        body = api_client.get("/api/v1/notifications/preferences").json()
        assert set(body) == {"email", "slack", "in_app"}
        assert body["in_app"] == {c: True for c in CATEGORIES}
        assert body["email"] == {**{c: True for c in CATEGORIES}, "sync_alerts": False}
        assert body["slack"] == {c: False for c in CATEGORIES}

    def test_the_spec_example(self, api_client, user):
        response = api_client.patch("/api/v1/notifications/preferences", {
            "email": {"campaign_alerts": True, "weekly_digest": True, "budget_alerts": True},
            "slack": {"campaign_alerts": True, "budget_alerts": True},
            "in_app": {"all": True},
        }, format="json")
        assert response.status_code == 200
        body = response.json()
        assert body["slack"] == {**{c: False for c in CATEGORIES}, "campaign_alerts": True, "budget_alerts": True}
        assert body["email"]["signal_alerts"] is True  # untouched defaults stay
        assert body == api_client.get("/api/v1/notifications/preferences").json()
        user.refresh_from_db()
        assert user.preferences["notifications"]["slack"] == {"campaign_alerts": True, "budget_alerts": True}

    def test_all_resets_a_channel_and_null_restores_a_default(self, api_client):
        body = api_client.patch("/api/v1/notifications/preferences",
                                {"email": {"all": False, "weekly_digest": True}}, format="json").json()
        assert body["email"] == {**{c: False for c in CATEGORIES}, "weekly_digest": True}
        body = api_client.patch("/api/v1/notifications/preferences", {"email": {"campaign_alerts": None}},
                                format="json").json()
        assert body["email"]["campaign_alerts"] is True and body["email"]["budget_alerts"] is False
        body = api_client.patch("/api/v1/notifications/preferences", {"email": {"all": None}}, format="json").json()
        assert body["email"] == {**{c: True for c in CATEGORIES}, "sync_alerts": False}

    @pytest.mark.parametrize("payload, field", [
        ({"sms": {"all": True}}, "sms"),
        ({"email": {"gossip": True}}, "email.gossip"),
        ({"email": {"campaign_alerts": "yes"}}, "email.campaign_alerts"),
        ({"email": True}, "email"),
        ([1, 2], "non_field_errors"),
    ])
    def test_bad_preferences_are_a_422(self, api_client, user, payload, field):
        body = assert_error(api_client.patch("/api/v1/notifications/preferences", payload, format="json"), 422)
        assert field in body["errors"]
        user.refresh_from_db()
        assert "notifications" not in user.preferences

    def test_garbage_written_through_users_me_does_not_break_reading(self, api_client, user):
        user.preferences = {"notifications": {"email": "yes", "in_app": {"campaign_alerts": "true"}}}
        user.save()
        body = api_client.get("/api/v1/notifications/preferences").json()
        assert body["email"]["campaign_alerts"] is True  # an unusable channel falls back to its default
        assert body["in_app"]["campaign_alerts"] is False  # only a real true counts


class TestSend:
    def test_in_app_rows_follow_in_app_preferences(self, tenant, user, django_capture_on_commit_callbacks):
        quiet = UserFactory(tenant=tenant, preferences={"notifications": {"in_app": {"all": False},
                                                                          "email": {"all": False}}})
        inactive = UserFactory(tenant=tenant, is_active=False)
        with django_capture_on_commit_callbacks(execute=True):
            created = notification_send(tenant=tenant, users=[user, quiet, inactive], category="budget_alerts",
                                        title="Budget changed", body="From 100 to 150")
        assert [n.user_id for n in created] == [user.pk]
        assert [m.to for m in mail.outbox] == [[user.email]]
        assert mail.outbox[0].subject == "[Stratum] Budget changed"
        assert "From 100 to 150" in mail.outbox[0].body and "/settings/notifications" in mail.outbox[0].body

    def test_required_channels_override_preferences(self, tenant, django_capture_on_commit_callbacks):
        quiet = UserFactory(tenant=tenant, preferences={"notifications": {"in_app": {"all": False},
                                                                          "email": {"all": False}}})
        with django_capture_on_commit_callbacks(execute=True):
            created = notification_send(tenant=tenant, users=[quiet], category="sync_alerts", title="Webhook off",
                                        required_channels=("in_app", "email"))
        assert len(created) == 1 and [m.to for m in mail.outbox] == [[quiet.email]]

    def test_an_unknown_category_is_a_programming_error(self, tenant, user):
        with pytest.raises(ValueError):
            notification_send(tenant=tenant, users=[user], category="gossip", title="x")


class TestEventFanOut:
    def test_every_catalogued_event_but_campaign_created_maps_to_a_category(self):
        assert set(WEBHOOK_EVENTS) - set(EVENT_CATEGORIES) == {"campaign.created"}
        assert set(EVENT_CATEGORIES.values()) <= set(CATEGORIES)

    def test_a_domain_event_reaches_users_by_their_preferences(self, tenant, user, django_capture_on_commit_callbacks):
        no_signals = UserFactory(tenant=tenant, role="analyst",
                                 preferences={"notifications": {"in_app": {"all": True, "signal_alerts": False}}})
        UserFactory()  # another tenant's user
        with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
            emit(tenant, "signal.degraded", {"platform": "meta", "score": 61, "previous_score": 82})
        note = Notification.objects.for_tenant(tenant).get()
        assert note.user == user and note.category == "signal_alerts"
        assert note.title == "Signal health degraded: meta"
        assert note.body == "Score: 61\nPrevious score: 82"
        assert note.data["event"] == "signal.degraded" and note.data["score"] == 61
        assert not Notification.objects.for_tenant(tenant).filter(user=no_signals).exists()
        assert sorted(m.to[0] for m in mail.outbox) == sorted([user.email, no_signals.email])  # e-mail default: on

    def test_a_personal_event_goes_only_to_its_person(self, tenant, user, scoped):
        assignee = UserFactory(tenant=tenant, role="analyst")
        created = notification_event_fanout(tenant=tenant, event_type="task.assigned",
                                            data={"assignee_id": str(assignee.pk), "task_title": "Fix pixel"})
        assert [(n.user_id, n.title) for n in created] == [(assignee.pk, "Task assigned to you: Fix pixel")]

    def test_a_client_event_goes_to_its_members_and_the_admins(self, tenant, user, scoped):
        from tests.workflow.factories import ClientFactory, ClientMembershipFactory

        client = ClientFactory(tenant=tenant)
        member = UserFactory(tenant=tenant, role="analyst")
        UserFactory(tenant=tenant, role="analyst")  # not on this client
        ClientMembershipFactory(tenant=tenant, client=client, user=member)
        created = notification_event_fanout(tenant=tenant, event_type="campaign.paused",
                                            data={"client_id": str(client.pk), "campaign_name": "Brand"})
        assert {n.user_id for n in created} == {user.pk, member.pk}

    def test_campaign_created_and_unknown_events_tell_nobody(self, tenant, user, scoped):
        assert notification_event_fanout(tenant=tenant, event_type="campaign.created", data={}) == []
        assert notification_event_fanout(tenant=tenant, event_type="something.else", data={}) == []

    def test_preferences_view_matches_channel_enabled(self, user):
        prefs = notification_preferences_get(user=user)
        assert all(prefs[ch][cat] == channel_enabled(user, ch, cat) for ch in prefs for cat in CATEGORIES)


def test_budget_event_text(tenant, user, scoped):
    (note,) = notification_event_fanout(tenant=tenant, event_type="budget.changed", data={
        "campaign_id": "c1", "campaign_name": "Summer Sale", "reason": "autopilot_scale", "previous_status": "active",
        "status": "active", "platform": "meta", "ad_account_id": "a1", "actor": f"user:{user.pk}",
        "previous_budget": 100.0, "new_budget": 150.0, "budget_type": "daily", "currency": "USD"})
    assert note.title == "Budget changed: Summer Sale"
    assert note.body == ("Budget: 100.0 → 150.0 USD\nReason: autopilot_scale\nPrevious status: active\n"
                         "Platform: meta\nBudget type: daily")
    assert note.data["actor"] == f"user:{user.pk}" and note.category == "budget_alerts"
