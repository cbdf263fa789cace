"""Event ingestion (track, batch), idempotency, limits, timeline and statistics."""
import datetime as dt
import json
import uuid

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from cdp.models import Event, Identity, IdentityLink, Profile, ProfileMerge
from cdp.serializers import EventSerializer
from cdp.services import event_track, profile_upsert
from tests.cdp.factories import EventFactory, ProfileFactory
from tests.helpers import assert_error

TRACK = "/api/v1/cdp/events/track"
BATCH = "/api/v1/cdp/events/batch"


class TestTrack:
    def test_spec_example_with_profile_id(self, api_client, tenant):
        profile = ProfileFactory(tenant=tenant)
        response = api_client.post(TRACK, {
            "profile_id": str(profile.pk), "event_type": "purchase",
            "properties": {"order_id": "ORD-123", "amount": 150.00, "products": ["SKU-001", "SKU-002"]},
            "timestamp": "2026-01-15T10:30:00Z"}, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["duplicate"] is False and body["status"] == "created" and body["profile_id"] == str(profile.pk)
        event = Event.objects.unscoped().get(pk=body["id"])
        assert event.timestamp == dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC)
        assert event.properties["products"] == ["SKU-001", "SKU-002"] and float(event.revenue) == 150.0
        profile.refresh_from_db()
        assert (profile.total_orders, float(profile.ltv), profile.lifecycle_stage) == (1, 150.0, "customer")
        traits = api_client.get(f"/api/v1/cdp/profiles/{profile.pk}").json()["traits"]
        assert (traits["total_orders"], traits["ltv"]) == (1, 150.0)

    def test_identifiers_instead_of_profile_id_create_then_find(self, api_client):
        first = api_client.post(TRACK, {"identifiers": {"email": "New@Shop.example"}, "event_type": "signup"},
                                format="json")
        assert first.status_code == 201
        second = api_client.post(TRACK, {"identifiers": {"email": "new@shop.example", "anonymous_id": "a-1"},
                                         "event_type": "page_view"}, format="json")
        assert second.json()["profile_id"] == first.json()["profile_id"]
        assert Profile.objects.unscoped().count() == 1
        assert Identity.objects.unscoped().filter(type="anonymous_id", value="a-1").exists()

    def test_message_id_makes_a_repeat_a_duplicate_that_stores_nothing(self, api_client, tenant):
        profile = ProfileFactory(tenant=tenant)
        payload = {"profile_id": str(profile.pk), "event_type": "purchase", "properties": {"amount": 20},
                   "message_id": "msg-1"}
        first = api_client.post(TRACK, payload, format="json")
        repeat = api_client.post(TRACK, payload, format="json")
        assert first.status_code == 201 and repeat.status_code == 200
        assert repeat.json() == {**first.json(), "status": "duplicate", "duplicate": True}
        assert Event.objects.unscoped().count() == 1
        profile.refresh_from_db()
        assert profile.total_orders == 1 and float(profile.ltv) == 20.0

    def test_unknown_profile_is_404(self, api_client):
        response = api_client.post(TRACK, {"profile_id": str(uuid.uuid4()), "event_type": "x"}, format="json")
        assert_error(response, 404, "NOT_FOUND")

    @pytest.mark.parametrize("payload,field", [
        ({"event_type": "login"}, "profile_id"),
        ({"profile_id": "nope", "event_type": "login"}, "profile_id"),
        ({"identifiers": {"email": "bad"}, "event_type": "login"}, "identifiers.email"),
        ({"identifiers": {"phone": "+1 12"}, "event_type": "login"}, "identifiers.phone"),
        ({"identifiers": {"email": "a@b.example"}}, "event_type"),
        ({"identifiers": {"email": "a@b.example"}, "event_type": "bad\ntype"}, "event_type"),
        ({"identifiers": {"email": "a@b.example"}, "event_type": "x", "properties": [1]}, "properties"),
        ({"identifiers": {"email": "a@b.example"}, "event_type": "x", "timestamp": "yesterday"}, "timestamp"),
        ({"identifiers": {"email": "a@b.example"}, "event_type": "x", "timestamp": "2026-02-30T10:00:00Z"},
         "timestamp"),
        ({"identifiers": {"email": "a@b.example"}, "event_type": "x", "timestamp": "2099-01-01T00:00:00Z"},
         "timestamp"),
        ({"identifiers": {"email": "a@b.example"}, "event_type": "purchase", "properties": {"amount": "10"}},
         "properties.amount"),
        ({"identifiers": {"email": "a@b.example"}, "event_type": "purchase", "properties": {"amount": -1}},
         "properties.amount"),
        ({"identifiers": {"email": "a@b.example"}, "event_type": "x", "message_id": ""}, "message_id"),
        ({"identifiers": {"email": "a@b.example"}, "event_type": "x", "colour": "red"}, "colour"),
    ])
    def test_bad_input_is_422_naming_the_field(self, api_client, payload, field):
        body = assert_error(api_client.post(TRACK, payload, format="json"), 422, "VALIDATION_ERROR")
        assert field in body["errors"], body
        assert not Event.objects.unscoped().exists() and not Profile.objects.unscoped().exists()

    def test_properties_limit_and_future_window(self, user, make_client, time_machine):
        time_machine.move_to(dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC))
        api_client = make_client(user)
        ok = {"identifiers": {"email": "a@b.example"}, "event_type": "x", "timestamp": "2026-03-02T11:59:00Z",
              "properties": {"blob": "x" * 32_000}}
        assert api_client.post(TRACK, ok, format="json").status_code == 201
        too_big = {**ok, "properties": {"blob": "x" * 33_000}}
        assert "properties" in assert_error(api_client.post(TRACK, too_big, format="json"), 422)["errors"]
        late = {**ok, "timestamp": "2026-03-02T12:01:00Z"}
        assert "timestamp" in assert_error(api_client.post(TRACK, late, format="json"), 422)["errors"]

    def test_service_interface(self, scoped):
        profile = ProfileFactory(tenant=scoped)
        result = event_track(tenant=scoped, profile_id=profile.pk, event_type="purchase", properties={"amount": 9.99},
                             message_id="m-9")
        assert result.status == "created" and result.profile_id == profile.pk
        assert event_track(tenant=scoped, profile_id=profile.pk, event_type="purchase", message_id="m-9").status == \
            "duplicate"


class TestBatch:
    def test_partial_success_with_per_item_results(self, api_client, tenant):
        profile = ProfileFactory(tenant=tenant)
        events = [
            {"profile_id": str(profile.pk), "event_type": "purchase", "properties": {"amount": 10}, "message_id": "b1"},
            {"identifiers": {"email": "bad"}, "event_type": "login"},
            {"identifiers": {"email": "fresh@shop.example"}, "event_type": "purchase", "properties": {"amount": 5}},
            {"profile_id": str(profile.pk), "event_type": "purchase", "properties": {"amount": 10}, "message_id": "b1"},
            {"profile_id": str(uuid.uuid4()), "event_type": "login"},
            {"identifiers": {"email": "fresh@shop.example"}, "event_type": "page_view"},
        ]
        response = api_client.post(BATCH, {"events": events}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["received"], body["created"], body["duplicates"], body["rejected"]) == (6, 3, 1, 2)
        statuses = [r["status"] for r in body["results"]]
        assert statuses == ["created", "rejected", "created", "duplicate", "rejected", "created"]
        assert body["results"][1]["errors"] == {"identifiers.email": ["Not a valid e-mail address."]}
        assert body["results"][4]["status_code"] == 404
        assert body["results"][3]["id"] == body["results"][0]["id"]
        assert body["results"][2]["profile_id"] == body["results"][5]["profile_id"]
        assert Event.objects.unscoped().count() == 3
        profile.refresh_from_db()
        assert profile.total_orders == 1 and float(profile.ltv) == 10.0
        fresh = Profile.objects.unscoped().get(email="fresh@shop.example")
        assert fresh.total_orders == 1 and fresh.last_seen_at is not None

    def test_a_rejected_item_writes_nothing_not_even_its_profile_or_a_merge(self, api_client, scoped):
        a, _ = profile_upsert(tenant=scoped, identifiers={"email": "a@shop.example"})
        b, _ = profile_upsert(tenant=scoped, identifiers={"phone": "+14155550199"})
        links_before = IdentityLink.objects.count()
        events = [
            {"identifiers": {"email": "new@shop.example", "phone": "+14155550111"}, "event_type": "login",
             "timestamp": "2099-01-01T00:00:00Z"},
            {"identifiers": {"email": "a@shop.example", "phone": "+14155550199"}, "event_type": "login",
             "message_id": "m" * 129},  # would merge a and b
            {"identifiers": {"email": "buyer@shop.example"}, "event_type": "purchase", "properties": {"amount": "ten"}},
            {"identifiers": {"email": "ok@shop.example"}, "event_type": "login"},
        ]
        body = api_client.post(BATCH, {"events": events}, format="json").json()
        assert [(r["status"], r.get("status_code"), sorted(r.get("errors") or {})) for r in body["results"]] == [
            ("rejected", 422, ["timestamp"]), ("rejected", 422, ["message_id"]),
            ("rejected", 422, ["properties.amount"]), ("created", None, [])]
        assert sorted(Profile.objects.values_list("email", flat=True)) == ["", "a@shop.example", "ok@shop.example"]
        assert sorted(Identity.objects.values_list("value", flat=True)) == [
            "+14155550199", "a@shop.example", "ok@shop.example"]
        assert not ProfileMerge.objects.exists()
        assert Profile.objects.get(pk=b.pk).merged_into_id is None
        assert IdentityLink.objects.count() == links_before + 1  # ok@shop.example attached to its new profile
        assert list(Event.objects.values_list("event_type", flat=True)) == ["login"]
        a.refresh_from_db()
        assert (a.total_orders, a.last_seen_at) == (0, None)

    def test_batch_merging_profiles_midway_puts_every_event_on_the_winner(self, api_client, scoped):
        a, _ = profile_upsert(tenant=scoped, identifiers={"email": "a@shop.example"})
        b, _ = profile_upsert(tenant=scoped, identifiers={"phone": "+14155550199"})
        events = [
            {"identifiers": {"phone": "+14155550199"}, "event_type": "purchase", "properties": {"amount": 7}},
            {"identifiers": {"email": "a@shop.example", "phone": "+14155550199"}, "event_type": "login"},
            {"identifiers": {"phone": "+14155550199"}, "event_type": "purchase", "properties": {"amount": 3}},
        ]
        body = api_client.post(BATCH, {"events": events}, format="json").json()
        assert {r["profile_id"] for r in body["results"]} == {str(a.pk)}
        a.refresh_from_db()
        assert a.total_orders == 2 and float(a.ltv) == 10.0
        assert set(Event.objects.filter(profile=a).values_list("origin_profile_id", flat=True)) == {a.pk, b.pk}

    def test_limits(self, api_client, tenant):
        profile = ProfileFactory(tenant=tenant)
        one = {"profile_id": str(profile.pk), "event_type": "x"}
        assert_error(api_client.post(BATCH, {"events": [one] * 1001}, format="json"), 413, "PAYLOAD_TOO_LARGE")
        assert_error(api_client.post(BATCH, {"events": []}, format="json"), 422)
        assert_error(api_client.post(BATCH, {"events": [one], "extra": 1}, format="json"), 422)
        big = {"events": [{**one, "properties": {"blob": "x" * 30_000}} for _ in range(36)]}
        raw = json.dumps(big)
        assert len(raw) > 1024 * 1024
        assert_error(api_client.post(BATCH, raw, content_type="application/json"), 413, "PAYLOAD_TOO_LARGE")
        assert not Event.objects.unscoped().exists()
        assert_error(api_client.post(BATCH, "{nope", content_type="application/json"), 400)

    def test_full_batch_of_1000_is_accepted(self, api_client, tenant, django_assert_max_num_queries):
        profiles = [ProfileFactory(tenant=tenant) for _ in range(20)]
        events = [{"profile_id": str(profiles[i % 20].pk), "event_type": "purchase" if i % 4 == 0 else "page_view",
                   "properties": {"amount": 1.5, "channel": "email"}, "message_id": f"m{i}"} for i in range(1000)]
        with django_assert_max_num_queries(30):
            body = api_client.post(BATCH, {"events": events}, format="json").json()
        assert body["created"] == 1000
        assert Event.objects.unscoped().count() == 1000
        profiles[0].refresh_from_db()
        assert profiles[0].total_orders == 50 and float(profiles[0].ltv) == 75.0


class TestReads:
    def test_timeline_of_a_profile(self, api_client, tenant, django_assert_max_num_queries):
        profile = ProfileFactory(tenant=tenant)
        other = ProfileFactory(tenant=tenant)
        base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        for n in range(60):
            EventFactory(tenant=tenant, profile=profile, timestamp=base + dt.timedelta(hours=n))
        EventFactory(tenant=tenant, profile=other)
        with django_assert_max_num_queries(8):
            body = api_client.get("/api/v1/cdp/events", {"profile_id": str(profile.pk)}).json()
        assert body["total"] == 60 and body["limit"] == 50 and len(body["items"]) == 50
        assert body["items"][0]["timestamp"].startswith("2026-01-03T11:00:00")
        assert set(body["items"][0]) == {"id", "profile_id", "event_type", "properties", "timestamp", "message_id",
                                         "source", "received_at"}
        assert api_client.get("/api/v1/cdp/events").json()["total"] == 61
        EventFactory(tenant=tenant, profile=other, event_type="purchase")
        bought = api_client.get("/api/v1/cdp/events", {"event_type": "purchase"}).json()
        assert bought["total"] == 1 and bought["items"][0]["profile_id"] == str(other.pk)
        assert api_client.get("/api/v1/cdp/events", {"profile_id": str(profile.pk),
                                                     "event_type": "purchase"}).json()["total"] == 0
        unknown = api_client.get("/api/v1/cdp/events", {"profile_id": str(uuid.uuid4())})  # a filter narrows
        assert unknown.status_code == 200 and unknown.json()["total"] == 0
        assert_error(api_client.get("/api/v1/cdp/events", {"profile_id": "x"}), 422)

    def test_timeline_rows_are_exactly_the_serializers_output(self, api_client, tenant):
        """The page is rendered from plain rows (events_render): byte for byte what EventSerializer gives."""
        profile = ProfileFactory(tenant=tenant)
        EventFactory(tenant=tenant, profile=profile, event_type="purchase", revenue=12.5, message_id="m-1",
                     properties={"amount": 12.5, "sku": "ä-1", "nested": {"a": [1, None]}},
                     timestamp=dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC))
        EventFactory(tenant=tenant, profile=profile, timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        items = api_client.get("/api/v1/cdp/events", {"profile_id": str(profile.pk)}).json()["items"]
        expected = EventSerializer(Event.objects.for_tenant(tenant).order_by("-timestamp", "pk"), many=True).data
        assert items == json.loads(json.dumps(expected, cls=DjangoJSONEncoder))
        assert items[0]["timestamp"] == "2026-01-02T03:04:05.678901Z" and items[1]["message_id"] is None

    def test_timeline_of_a_merged_id_is_the_winners(self, api_client, tenant):
        winner = ProfileFactory(tenant=tenant)
        loser = ProfileFactory(tenant=tenant, merged_into=winner)
        EventFactory(tenant=tenant, profile=winner)
        body = api_client.get("/api/v1/cdp/events", {"profile_id": str(loser.pk)}).json()
        assert body["total"] == 1 and body["items"][0]["profile_id"] == str(winner.pk)

    def test_statistics_in_the_tenant_time_zone(self, user, make_client, tenant, time_machine):
        time_machine.move_to(dt.datetime(2026, 2, 10, 12, 0, tzinfo=dt.UTC))
        api_client = make_client(user)
        tenant.settings = {"timezone": "America/New_York"}
        tenant.save()
        a, b = ProfileFactory(tenant=tenant), ProfileFactory(tenant=tenant)
        at = lambda s: dt.datetime.fromisoformat(s)  # noqa: E731
        EventFactory(tenant=tenant, profile=a, event_type="purchase", revenue=40,
                     timestamp=at("2026-02-10T03:00:00+00:00"))
        EventFactory(tenant=tenant, profile=b, event_type="purchase", revenue=60,
                     timestamp=at("2026-02-10T06:00:00+00:00"))
        EventFactory(tenant=tenant, profile=a, event_type="page_view", timestamp=at("2026-02-08T12:00:00+00:00"))
        EventFactory(tenant=tenant, profile=a, event_type="page_view", timestamp=at("2025-12-01T12:00:00+00:00"))
        body = api_client.get("/api/v1/cdp/events/statistics", {"period": "7d"}).json()
        assert (body["start_date"], body["end_date"]) == ("2026-02-04", "2026-02-10")
        assert body["total_events"] == 3 and body["unique_profiles"] == 2
        assert body["by_type"] == [{"event_type": "purchase", "count": 2, "unique_profiles": 2},
                                   {"event_type": "page_view", "count": 1, "unique_profiles": 1}]
        by_day = {d["date"]: d["count"] for d in body["by_day"]}
        assert len(by_day) == 7 and by_day["2026-02-09"] == 1 and by_day["2026-02-10"] == 1
        assert by_day["2026-02-08"] == 1
        assert body["purchases"] == {"count": 2, "revenue": 100.0}
        assert_error(api_client.get("/api/v1/cdp/events/statistics", {"period": "week"}), 422)


def test_batch_with_api_key_scopes_and_odd_items(user, make_key_client, tenant):
    profile = ProfileFactory(tenant=tenant)
    reader = make_key_client(user, scopes=["read:cdp"])
    assert_error(reader.post(BATCH, {"events": [{"profile_id": str(profile.pk), "event_type": "x"}]}, format="json"),
                 403, "FORBIDDEN")
    writer = make_key_client(user, scopes=["write:cdp"])
    body = writer.post(BATCH, {"events": [42, {"profile_id": str(profile.pk), "event_type": "x",
                                               "timestamp": dt.datetime(2026, 1, 1).isoformat()}]},
                       format="json").json()
    assert [r["status"] for r in body["results"]] == ["rejected", "created"]
    assert body["results"][0]["errors"] == {"non_field_errors": ["Each event must be an object."]}
    assert Event.objects.unscoped().get().timestamp == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_event_track_accepts_datetimes(scoped):
    profile = ProfileFactory(tenant=scoped)
    moment = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    result = event_track(tenant=scoped, profile_id=profile.pk, event_type="login", timestamp=moment)
    assert Event.objects.get(pk=result.id).timestamp == moment
