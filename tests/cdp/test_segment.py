"""Segment's HTTP Tracking API (/v1/*) call by call: the mapping onto the CDP, messageId idempotency, clock-skew
correction, Segment's limits and error answers, gzip (and its bound), CORS for browser sources, the tier's rate limit.
The real SDKs are in test_segment_sdks.py."""
from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from decimal import Decimal

import pytest

from cdp.models import Event, Identity, IdentityLink, Profile
from cdp.services.sources import source_create

pytestmark = pytest.mark.django_db


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


@pytest.fixture
def key(tenant):
    return source_create(tenant=tenant, name="backend", kind="server")[1]


@pytest.fixture
def send(client, key):
    def post(path, body, *, auth=True, **extra):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        headers = {"HTTP_AUTHORIZATION": basic(key)} if auth else {}
        return client.post(f"/v1/{path}", data, content_type=extra.pop("content_type", "application/json"),
                           **headers, **extra)
    return post


def profile_of(tenant, kind, value) -> Profile:
    pid = Identity.objects.for_tenant(tenant).get(type=kind, value=value).profile_id
    return Profile.objects.for_tenant(tenant).get(pk=pid)


class TestMapping:
    def test_identify_upserts_the_profile_with_identities_and_traits(self, send, tenant):
        response = send("identify", {"userId": "u-1", "anonymousId": "anon-1", "traits": {
            "email": "Ada@Example.org", "phone": "+1 415 555 0100", "plan": "pro", "first name": "x",
            "ltv": 9, "address": {"city": "Paris"}}, "messageId": "m-1"})
        assert response.status_code == 200 and response.json() == {"success": True}
        profile = profile_of(tenant, "external_id", "u-1")
        assert (profile.external_id, profile.email, profile.phone) == ("u-1", "ada@example.org", "+14155550100")
        assert profile.traits == {"plan": "pro", "address": {"city": "Paris"}}
        assert sorted(Identity.objects.for_tenant(tenant).values_list("type", "value")) == [
            ("anonymous_id", "anon-1"), ("email", "ada@example.org"), ("external_id", "u-1"),
            ("phone", "+14155550100")]
        assert Event.objects.for_tenant(tenant).count() == 0
        assert set(IdentityLink.objects.for_tenant(tenant).values_list("source", flat=True)) == {"segment"}

    def test_track_order_completed_is_a_purchase_with_revenue(self, send, tenant):
        send("track", {"userId": "u-2", "event": "Order Completed", "messageId": "m-2",
                       "properties": {"revenue": 42.5, "total": 50, "order_id": "o-1"},
                       "context": {"traits": {"email": "buyer@example.org"}}})
        send("track", {"userId": "u-2", "event": "purchase", "messageId": "m-3", "properties": {"total": "7.25"}})
        send("track", {"userId": "u-2", "event": "Product Viewed", "messageId": "m-4",
                       "properties": {"revenue": 100}})
        events = {e.message_id: e for e in Event.objects.for_tenant(tenant)}
        assert (events["m-2"].event_type, events["m-2"].revenue) == ("purchase", Decimal("42.50"))
        assert events["m-2"].properties == {"revenue": 42.5, "total": 50, "order_id": "o-1",
                                            "event": "Order Completed"}
        assert (events["m-3"].event_type, events["m-3"].revenue) == ("purchase", Decimal("7.25"))
        assert (events["m-4"].event_type, events["m-4"].revenue) == ("Product Viewed", None)
        profile = profile_of(tenant, "external_id", "u-2")
        assert (profile.total_orders, profile.ltv, profile.lifecycle_stage) == (2, Decimal("49.75"), "customer")
        assert profile.email == "buyer@example.org"

    def test_page_and_screen_are_events_with_their_name(self, send, tenant):
        send("page", {"anonymousId": "a-3", "name": "Pricing", "category": "Docs", "messageId": "p-1",
                      "properties": {"path": "/pricing", "url": "https://x.example/pricing"}})
        send("screen", {"anonymousId": "a-3", "name": "Home", "messageId": "s-1"})
        events = {e.event_type: e.properties for e in Event.objects.for_tenant(tenant)}
        assert events == {"page": {"path": "/pricing", "url": "https://x.example/pricing", "name": "Pricing",
                                   "category": "Docs"}, "screen": {"name": "Home"}}
        assert profile_of(tenant, "anonymous_id", "a-3").lifecycle_stage == "anonymous"

    def test_group_records_the_group_on_the_profile(self, send, tenant):
        send("group", {"userId": "u-4", "groupId": "acme", "traits": {"name": "Acme", "employees": 40}})
        assert profile_of(tenant, "external_id", "u-4").traits == {
            "group_id": "acme", "group_traits": {"name": "Acme", "employees": 40}}

    def test_alias_joins_previous_and_user_id_and_says_why(self, send, tenant):
        send("page", {"anonymousId": "anon-5", "messageId": "p-5"})
        send("identify", {"userId": "u-5", "traits": {"email": "five@example.org"}})
        assert Profile.objects.for_tenant(tenant).count() == 2
        send("alias", {"previousId": "anon-5", "userId": "u-5"})
        profile = profile_of(tenant, "anonymous_id", "anon-5")
        assert profile == profile_of(tenant, "external_id", "u-5")
        assert Event.objects.for_tenant(tenant).get(message_id="p-5").profile_id == profile.pk
        merged = IdentityLink.objects.for_tenant(tenant).filter(profile=profile, action="merged").get()
        assert merged.reason.split(": ", 1)[1].startswith(
            "alias: previousId anon-5 is userId u-5 (Segment alias call)")
        # An alias naming a new previous id attaches it with the same explanation.
        send("alias", {"previousId": "anon-6", "userId": "u-5"})
        link = IdentityLink.objects.for_tenant(tenant).get(identifier_value="anon-6")
        assert (link.action, link.reason) == ("attached", "alias: previousId anon-6 is userId u-5 (Segment alias call)")

    def test_message_id_is_the_idempotency_key(self, send, tenant):
        body = {"batch": [{"type": "track", "userId": "u-6", "event": "Order Completed", "messageId": "dup-1",
                           "properties": {"revenue": 10}},
                          {"type": "track", "userId": "u-6", "event": "Order Completed", "messageId": "dup-1",
                           "properties": {"revenue": 10}}]}
        assert send("batch", body).json() == {"success": True}
        assert send("batch", body).json() == {"success": True}
        assert Event.objects.for_tenant(tenant).count() == 1
        profile = profile_of(tenant, "external_id", "u-6")
        assert (profile.total_orders, profile.ltv) == (1, Decimal("10.00"))

    def test_clock_skew_is_corrected_by_sent_at(self, send, tenant, time_machine):
        time_machine.move_to(dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC), tick=False)
        # The client's clock is 2 hours fast: it stamped the event 10 s before sending.
        send("batch", {"sentAt": "2026-03-01T14:00:00Z", "batch": [
            {"type": "track", "userId": "u-7", "event": "Clicked", "messageId": "c-1",
             "timestamp": "2026-03-01T13:59:50Z"},
            {"type": "track", "userId": "u-7", "event": "Clicked", "messageId": "c-2",
             "timestamp": "2026-03-01T13:59:55Z", "sentAt": "2026-03-01T13:59:58Z"}]})
        send("track", {"userId": "u-7", "event": "Clicked", "messageId": "c-3", "timestamp": "2026-02-01T08:00:00Z"})
        stamps = dict(Event.objects.for_tenant(tenant).values_list("message_id", "timestamp"))
        assert stamps == {"c-1": dt.datetime(2026, 3, 1, 11, 59, 50, tzinfo=dt.UTC),
                          "c-2": dt.datetime(2026, 3, 1, 11, 59, 57, tzinfo=dt.UTC),
                          "c-3": dt.datetime(2026, 2, 1, 8, 0, tzinfo=dt.UTC)}

    def test_messages_segment_would_drop_are_dropped_and_the_rest_lands(self, send, tenant):
        response = send("batch", {"batch": [
            {"type": "track", "event": "No Id", "messageId": "x-1"},
            {"type": "track", "userId": "u-8"},
            {"type": "track", "userId": "u-8", "event": "Bad!Name"},
            {"type": "launch", "userId": "u-8"},
            {"type": "alias", "userId": "u-8"},
            {"type": "group", "userId": "u-8"},
            {"type": "track", "userId": "u-8", "event": "Order Completed", "properties": {"revenue": -5}},
            {"type": "track", "userId": "u-8", "event": "x", "timestamp": "yesterday"},
            {"type": "track", "userId": "u-8", "event": "x", "timestamp": "2099-01-01T00:00:00Z"},
            "not an object",
            {"type": "track", "userId": "u-8", "event": "Kept", "messageId": "k-1"}]})
        assert response.status_code == 200 and response.json() == {"success": True}
        assert list(Event.objects.for_tenant(tenant).values_list("message_id", flat=True)) == ["k-1"]

    def test_write_key_in_the_body_and_text_plain_as_analytics_js_sends(self, send, key, tenant):
        body = json.dumps({"userId": "u-9", "event": "Viewed", "writeKey": key, "messageId": "w-1"})
        response = send("track", body, auth=False, content_type="text/plain")
        assert response.status_code == 200
        assert Event.objects.for_tenant(tenant).get().event_type == "Viewed"

    def test_oversize_traits_leave_the_traits_out_not_the_call(self, send, tenant):
        big = {f"t{i}": "x" * 1000 for i in range(20)}
        send("identify", {"userId": "u-10", "traits": big})
        send("identify", {"userId": "u-10", "traits": {f"u{i}": "y" * 1000 for i in range(20)}})
        profile = profile_of(tenant, "external_id", "u-10")
        assert profile.traits == big


class TestLimitsAndErrors:
    def test_a_call_over_32_kb_is_400(self, send, tenant):
        response = send("track", {"userId": "u", "event": "x", "properties": {"blob": "x" * 33_000}})
        assert response.status_code == 400
        assert response.json() == {"success": False, "detail": "The payload exceeds 32 KB.",
                                   "code": "PAYLOAD_TOO_LARGE", "status_code": 400, "message": "Bad request"}

    def test_a_batch_over_500_kb_or_with_a_message_over_32_kb_is_400(self, send, tenant):
        small = {"type": "track", "userId": "u", "event": "x", "properties": {"blob": "x" * 20_000}}
        assert send("batch", {"batch": [small] * 26}).json()["detail"] == "The payload exceeds 500 KB."
        big = {**small, "properties": {"blob": "x" * 33_000}}
        response = send("batch", {"batch": [small, big]})
        assert response.status_code == 400 and response.json()["detail"] == "A message exceeds 32 KB."
        assert send("batch", {"batch": [small] * 20}).status_code == 200
        assert Event.objects.for_tenant(tenant).count() == 20

    def test_invalid_json_and_shapes_are_400(self, send):
        for path, body in (("track", b"{not json"), ("track", b"[1, 2]"), ("batch", b'{"batch": {}}')):
            response = send(path, body)
            assert response.status_code == 400 and response.json()["success"] is False, body
            assert response.json()["code"] == "VALIDATION_ERROR"

    def test_gzip_bodies_are_accepted(self, send, tenant):
        body = gzip.compress(json.dumps({"batch": [
            {"type": "track", "userId": "u-g", "event": "Zipped", "messageId": f"g-{i}"} for i in range(3)]}).encode())
        response = send("batch", body, HTTP_CONTENT_ENCODING="gzip")
        assert response.status_code == 200
        assert Event.objects.for_tenant(tenant).filter(event_type="Zipped").count() == 3

    def test_a_zip_bomb_stops_at_the_bound(self, send, tenant):
        bomb = gzip.compress(b'{"batch": [' + b" " * (50 * 1024 * 1024) + b"]}")
        assert len(bomb) < 100_000
        response = send("batch", bomb, HTTP_CONTENT_ENCODING="gzip")
        assert response.status_code == 400 and response.json()["detail"] == "The payload exceeds 500 KB."

    def test_bad_gzip_and_unknown_encodings_are_400(self, send):
        assert send("track", b"not gzip", HTTP_CONTENT_ENCODING="gzip").json()["detail"] == "The body is not valid gzip."
        truncated = gzip.compress(json.dumps({"userId": "u", "event": "x"}).encode())[:-12]
        assert send("track", truncated, HTTP_CONTENT_ENCODING="gzip").status_code == 400
        assert send("track", b"{}", HTTP_CONTENT_ENCODING="br").status_code == 400

    def test_get_is_not_allowed(self, client):
        assert client.get("/v1/track").status_code == 405

    def test_the_tiers_rate_limit_applies(self, send, tenant, settings):
        settings.RATELIMIT_ENABLED = True
        tenant.limit_overrides = {"api_requests_per_minute": 60, "api_burst": 2}
        tenant.save()
        answers = [send("track", {"userId": "u", "event": "x"}) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[0]["X-RateLimit-Limit"] == "60"
        assert answers[2].json()["code"] == "RATE_LIMITED" and int(answers[2]["Retry-After"]) >= 1

    def test_bad_keys_are_limited_by_address(self, client, settings):
        settings.RATELIMIT_ENABLED = True
        settings.RATELIMIT_ANONYMOUS = (60, 2)
        codes = [client.post("/v1/track", {"userId": "u", "event": "x"}, content_type="application/json",
                             HTTP_AUTHORIZATION=basic("wk_guess")).status_code for _ in range(3)]
        assert codes == [401, 401, 429]


class TestCors:
    @pytest.fixture
    def browser_key(self, tenant):
        return source_create(tenant=tenant, name="shop", kind="browser",
                             allowed_origins=["https://shop.example.com"])[1]

    def test_preflight_answers_the_origin(self, client):
        response = client.options("/v1/batch", HTTP_ORIGIN="https://shop.example.com",
                                  HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == "https://shop.example.com"
        assert {"Authorization", "Content-Type", "Content-Encoding", "X-Retry-Count"} <= {
            h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}

    def test_an_allowed_origin_gets_cors_headers(self, client, browser_key, tenant):
        response = client.post("/v1/page", json.dumps({"anonymousId": "a", "writeKey": browser_key}),
                               content_type="text/plain", HTTP_ORIGIN="https://shop.example.com")
        assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == "https://shop.example.com"
        assert Event.objects.for_tenant(tenant).count() == 1

    def test_another_origin_is_refused_and_nothing_lands(self, client, browser_key, key, tenant):
        response = client.post("/v1/page", json.dumps({"anonymousId": "a", "writeKey": browser_key}),
                               content_type="text/plain", HTTP_ORIGIN="https://evil.example")
        assert response.status_code == 403 and "Access-Control-Allow-Origin" not in response
        # A server source's key is not for pages at all.
        response = client.post("/v1/page", json.dumps({"anonymousId": "a", "writeKey": key}),
                               content_type="text/plain", HTTP_ORIGIN="https://shop.example.com")
        assert response.status_code == 403
        assert Event.objects.for_tenant(tenant).count() == 0

    def test_a_browser_source_without_a_list_takes_any_origin(self, client, tenant):
        key = source_create(tenant=tenant, name="any", kind="browser")[1]
        response = client.post("/v1/page", json.dumps({"anonymousId": "a", "writeKey": key}),
                               content_type="text/plain", HTTP_ORIGIN="http://127.0.0.1:9999")
        assert response["Access-Control-Allow-Origin"] == "http://127.0.0.1:9999"


def test_sources_of_one_tenant_feed_only_that_tenant(client, tenant):
    from tests.accounts.factories import TenantFactory

    other = TenantFactory(plan="enterprise")
    mine = source_create(tenant=tenant, name="a", kind="server")[1]
    theirs = source_create(tenant=other, name="b", kind="server")[1]
    for key, user in ((mine, "same-id"), (theirs, "same-id")):
        client.post("/v1/track", {"userId": user, "event": "x", "messageId": "same-message"},
                    content_type="application/json", HTTP_AUTHORIZATION=basic(key))
    assert Event.objects.for_tenant(tenant).count() == 1 and Event.objects.for_tenant(other).count() == 1
    assert Profile.objects.for_tenant(tenant).get().pk != Profile.objects.for_tenant(other).get().pk


class TestSchema:
    """/v1/* are plain Django views (write keys only); the OpenAPI schema describes them anyway, and what they answer
    matches what it says."""

    @pytest.fixture
    def openapi(self, client):
        return client.get("/api/schema/", {"format": "json"}).json()

    def test_every_call_and_the_batch_are_documented_with_the_write_key(self, openapi):
        assert openapi["components"]["securitySchemes"]["segmentWriteKey"] == {
            "type": "http", "scheme": "basic", "description": openapi["components"]["securitySchemes"][
                "segmentWriteKey"]["description"]}
        for call in ("identify", "track", "page", "screen", "group", "alias", "batch"):
            operation = openapi["paths"][f"/v1/{call}"]["post"]
            assert operation["security"] == [{"segmentWriteKey": []}], call
            assert set(operation["responses"]) == {"200", "400", "401", "403", "429", "503"}, call
            assert set(operation["requestBody"]["content"]) == {"application/json", "text/plain"}
        batch = openapi["paths"]["/v1/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert batch["required"] == ["batch"] and batch["properties"]["batch"]["maxItems"] == 2500
        message = openapi["components"]["schemas"]["SegmentMessage"]["properties"]
        assert message["type"]["enum"] == ["identify", "track", "page", "screen", "group", "alias"]

    def test_the_answers_are_the_documented_ones(self, openapi, send, client):
        responses = openapi["paths"]["/v1/track"]["post"]["responses"]
        ok = send("track", {"userId": "u-s", "event": "Signed Up", "messageId": "m-s"})
        assert ok.status_code == 200 and ok.json() == {"success": True}
        assert responses["200"]["content"]["application/json"]["schema"]["properties"]["success"]["enum"] == [True]
        error = {"$ref": "#/components/schemas/Error"}
        required = set(openapi["components"]["schemas"]["Error"]["required"])
        for answer in (send("track", b"{not json"), send("track", {"event": "x"}, auth=False),
                       client.post("/v1/track", "{}", content_type="application/json",
                                   HTTP_AUTHORIZATION=basic("wk_unknown"))):
            documented = responses[str(answer.status_code)]["content"]["application/json"]["schema"]
            assert documented["allOf"][0] == error
            body = answer.json()
            assert required <= set(body) and body["success"] is False and body["status_code"] == answer.status_code
