"""Oversize bodies, batches, fields and query strings (413/422/400, never 500), and huge or deep condition trees
(segments, funnels, automation rules): bounded depth and size, a 422 naming the bound, in bounded time."""
from __future__ import annotations

import io
import json
import time

import pytest
from django.conf import settings as django_settings
from PIL import Image

from cdp.models import Event, Segment
from cdp.segmentation.compiler import MAX_DEPTH, MAX_NODES, MAX_RULES, MAX_VALUES
from stratum.api.parsers import MAX_JSON_DEPTH
from tests.api.test_tenant_isolation import world  # noqa: F401  (the walker's two-tenant world)
from tests.cdp.factories import ProfileFactory
from tests.helpers import client_for
from tests.security.kit import WRITE_METHODS, is_error_format, own_query, own_url, routes, tenant_rows
from tests.workflow.factories import ClientFactory

SEGMENT_PREVIEW = "/api/v1/cdp/segments/preview"


def _refused(hostile, category: str, label: str, response, status: int, code: str | None = None) -> None:
    ok = response.status_code == status and is_error_format(response)
    if ok and code is not None:
        ok = response.json()["code"] == code
    hostile.expect(category, label, ok, f"{response.status_code} {response.content[:200]!r}")


@pytest.mark.attack("oversize")
def test_every_write_route_refuses_a_body_over_its_ceiling(hostile, world, settings):
    """Each write route with one byte more than its ceiling (the default 1 MiB or the view's own): 413
    PAYLOAD_TOO_LARGE before anything is parsed or written."""
    settings.RATELIMIT_ENABLED = False
    before = tenant_rows(world["tenant_a"])
    filler_cache: dict[int, str] = {}
    for route in routes():
        url = own_url(route, world["objects"])
        if url is None:
            continue
        limit = int(getattr(route.cls, "max_body_bytes", None) or django_settings.API_MAX_BODY_BYTES)
        if limit > 4 * 1024 * 1024:
            continue  # the creative upload (50 MiB) is attacked below with a lowered ceiling
        if limit not in filler_cache:
            filler_cache[limit] = json.dumps({"name": "x" * limit})
        for method in (m for m in route.methods if m in WRITE_METHODS):
            response = world["client_a"].generic(method, url + own_query(route, method, world["objects"]),
                                                 filler_cache[limit], content_type="application/json")
            _refused(hostile, "oversize", f"{method} {route.template} with {limit + 12} bytes", response, 413,
                     "PAYLOAD_TOO_LARGE")
    assert tenant_rows(world["tenant_a"]) == before


@pytest.fixture
def owner(user, settings):
    settings.RATELIMIT_ENABLED = False
    return user


def _png(size: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue() + b"\0" * max(0, size - len(buffer.getvalue()))


@pytest.mark.attack("oversize")
def test_oversize_batches_uploads_fields_and_query_strings(hostile, owner, settings):
    client = client_for(owner)
    profile = ProfileFactory(tenant=owner.tenant)
    one = {"profile_id": str(profile.pk), "event_type": "page_view"}
    _refused(hostile, "oversize", "a batch of 1,001 events", client.post("/api/v1/cdp/events/batch",
                                                                        {"events": [one] * 1001}, format="json"), 413,
             "PAYLOAD_TOO_LARGE")
    _refused(hostile, "oversize", "a batch of 10,000 events", client.post("/api/v1/cdp/events/batch",
                                                                         {"events": [one] * 10_000}, format="json"),
             413, "PAYLOAD_TOO_LARGE")
    big_properties = {"profile_id": str(profile.pk), "event_type": "page_view", "properties": {"x": "y" * 40_000}}
    response = client.post("/api/v1/cdp/events/batch", {"events": [big_properties]}, format="json")
    hostile.expect("oversize", "one event with 40 kB of properties is rejected in the batch",
                   response.status_code == 200 and response.json()["rejected"] == 1, response.content[:200])
    assert not Event.objects.for_tenant(owner.tenant).exists()
    _refused(hostile, "oversize", "track with 65 kB", client.post(
        "/api/v1/cdp/events/track", json.dumps({**one, "properties": {"x": "y" * 65_536}}),
        content_type="application/json"), 413, "PAYLOAD_TOO_LARGE")
    # Creative uploads: the file's own ceiling (lowered here), checked on the stored size.
    settings.CREATIVE_MAX_UPLOAD_BYTES = 10_000
    client_obj = ClientFactory(tenant=owner.tenant)
    upload = io.BytesIO(_png(20_000))
    upload.name = "big.png"
    response = client.post("/api/v1/creative-submissions", {"name": "Big", "ad_type": "image", "file": upload,
                                                            "client_id": str(client_obj.pk)}, format="multipart")
    _refused(hostile, "oversize", "a creative over CREATIVE_MAX_UPLOAD_BYTES", response, 413, "PAYLOAD_TOO_LARGE")
    oversize_fields = (
        ("POST", "/api/v1/clients", {"name": "n" * 10_000}, "name"),
        ("POST", "/api/v1/webhooks", {"name": "w", "url": "https://hooks.example.com/" + "a" * 5000,
                                      "events": ["campaign.paused"]}, "url"),
        ("POST", "/api/v1/webhooks", {"name": "w", "url": "https://hooks.example.com/x",
                                      "events": ["campaign.paused"] * 5000}, "events"),
        ("POST", "/api/v1/analytics/what-if", {"changes": [{"campaign_id": str(profile.pk), "budget": 1}] * 101},
         "changes"),
        ("POST", "/api/v1/cdp/segments", {"name": "s" * 201, "conditions": {"rules": [
            {"field": "email", "operator": "exists"}]}}, "name"),
        ("PATCH", "/api/v1/users/me", {"preferences": {f"k{i}": "v" * 100 for i in range(5000)}}, "preferences"),
        ("POST", "/api/v1/cdp/profiles", {"identifiers": {"email": "big@example.com"},
                                          "traits": {f"t{i}": i for i in range(20_000)}}, "traits"),
        ("POST", "/api/v1/leadscoring/score", {"email": "lead@example.com", "client_id": str(client_obj.pk),
                                               "raw_data": {f"k{i}": "v" for i in range(60)}}, "raw_data"),
    )
    for method, path, body, field in oversize_fields:
        response = client.generic(method, path, json.dumps(body), content_type="application/json")
        errors = response.json().get("errors", {}) if is_error_format(response) else {}
        hostile.expect("oversize", f"{method} {path}: {field} over its bound",
                       response.status_code in (413, 422) and (response.status_code == 413 or any(
                           k == field or k.startswith((f"{field}.", f"{field}[")) for k in errors)),
                       f"{response.status_code} {response.content[:200]!r}")
    for label, path, status in (
            ("limit=1000000", "/api/v1/campaigns?limit=1000000", 422),
            ("page=10^30", "/api/v1/campaigns?page=" + "9" * 30, 422),
            ("search of 100 kB", "/api/v1/campaigns?search=" + "s" * 100_000, 422),
            ("2,000 query parameters", "/api/v1/campaigns?" + "&".join(f"p{i}=1" for i in range(2000)), 400),
            ("a deeply nested JSON body", None, 422)):
        if path is None:
            response = client.post(SEGMENT_PREVIEW, '{"conditions": ' + "[" * 100_000 + "]" * 100_000 + "}",
                                   content_type="application/json")
        else:
            response = client.get(path)
        hostile.expect("oversize", label, response.status_code == status and is_error_format(response),
                       f"{response.status_code} {response.content[:200]!r}")


# --- condition trees ---------------------------------------------------------------------------

def _nested(n: int, key: str = "not") -> str:
    leaf = '{"field": "email", "operator": "exists"}'
    if key == "not":
        return '{"not": ' * n + leaf + "}" * n
    return '{"operator": "and", "rules": [' * n + leaf + "]}" * n


@pytest.mark.attack("segment_bounds")
def test_deep_and_huge_segment_trees_are_refused_quickly_naming_the_bound(hostile, owner):
    client = client_for(owner)
    ProfileFactory.create_batch(3, tenant=owner.tenant)
    rule = {"field": "email", "operator": "exists"}
    in_rule = {"field": "traits.n", "operator": "in", "value": list(range(1000))}
    where_rule = {"field": "properties.n", "operator": "in", "value": list(range(1000))}
    negated = {"not": {"not": {"not": rule}}}  # four nodes per rule, within the depth bound
    cases = [
        (f"negations {MAX_DEPTH + 1} deep", _nested(MAX_DEPTH + 1), f"at most {MAX_DEPTH} levels"),
        ("negations 500 deep", _nested(500), f"at most {MAX_JSON_DEPTH} levels"),  # the body's own bound first
        ("groups 200 deep", _nested(200, "rules"), f"at most {MAX_JSON_DEPTH} levels"),
        ("negations 60 deep", _nested(60), f"at most {MAX_DEPTH} levels"),
        (f"{MAX_RULES + 1} rules", json.dumps({"rules": [rule] * (MAX_RULES + 1)}), f"At most {MAX_RULES} rules"),
        ("20,000 rules", json.dumps({"rules": [rule] * 20_000}), f"At most {MAX_RULES} rules"),
        ("20,000 empty groups", json.dumps({"rules": [{"rules": []}] * 20_000}), f"At most {MAX_NODES} conditions"),
        (f"{MAX_RULES} rules under triple negations", json.dumps({"rules": [negated] * MAX_RULES}),
         f"At most {MAX_NODES} conditions"),
        ("50 lists of 1,000 values", json.dumps({"rules": [in_rule] * 50}), f"At most {MAX_VALUES} list values"),
        ("20 event rules × 10 property lists × 1,000 values", json.dumps({"rules": [
            {"event_type": "purchase", "where": [where_rule] * 10}] * 20}), f"At most {MAX_VALUES} list values"),
        ("30 event rules × 10 property rules", json.dumps({"rules": [
            {"event_type": "purchase", "where": [{"field": "properties.n", "operator": "exists"}] * 10}] * 30}),
         f"At most {MAX_NODES} conditions"),
        ("a list of 1,001 values", json.dumps({"rules": [{**in_rule, "value": list(range(1001))}]}),
         "at most 1000 values"),
    ]
    for label, conditions, bound in cases:
        body = '{"conditions": ' + conditions + "}"
        for path in (SEGMENT_PREVIEW, "/api/v1/cdp/segments"):
            payload = body if path == SEGMENT_PREVIEW else body[:-1] + ', "name": "huge"}'
            started = time.monotonic()
            response = client.post(path, payload, content_type="application/json")
            elapsed = time.monotonic() - started
            text = response.content.decode(errors="replace")
            ok = (response.status_code == 422 and is_error_format(response) and bound.lower() in text.lower()
                  and len(response.content) < 20_000 and elapsed < 2.0)
            hostile.expect("segment_bounds", f"{label} → {path}", ok,
                           f"{response.status_code} {len(response.content)} bytes {elapsed:.2f}s {text[:160]}")
    assert not Segment.objects.for_tenant(owner.tenant).exists()
    # Within the bounds the same shapes still work.
    for label, conditions in (("depth at the bound", _nested(MAX_DEPTH - 1, "rules")),
                              ("rules at the bound", json.dumps({"rules": [rule] * MAX_RULES})),
                              ("values at the bound", json.dumps({"rules": [in_rule] * (MAX_VALUES // 1000)}))):
        response = client.post(SEGMENT_PREVIEW, '{"conditions": ' + conditions + "}", content_type="application/json")
        assert response.status_code == 200, (label, response.content[:300])


@pytest.mark.attack("segment_bounds")
def test_funnel_and_rule_condition_trees_are_bounded(hostile, owner):
    client = client_for(owner)
    where = [{"field": "properties.n", "operator": "in", "value": list(range(1000))}] * 11
    response = client.post("/api/v1/analytics/funnels", {"name": "f", "steps": [
        {"event_type": "page_view", "where": where}, {"event_type": "purchase"}]}, format="json")
    _refused(hostile, "segment_bounds", "funnel step with 11 property rules", response, 422)
    response = client.post("/api/v1/analytics/funnels", {"name": "f", "steps": [{"event_type": "page_view"}] * 21},
                           format="json")
    _refused(hostile, "segment_bounds", "funnel with 21 steps", response, 422)
    leaf = {"field": "roas", "operator": "less_than", "value": 1}
    bad_leaf = {"field": "nope", "operator": "nope", "value": "nope"}
    deep = leaf
    for _ in range(6):
        deep = {"operator": "and", "conditions": [deep]}
    actions = [{"type": "notify", "message": "m"}]
    for label, conditions in (("rule conditions 6 groups deep", deep),
                              ("31 rule conditions", [leaf] * 31),
                              ("20,000 rule conditions", [leaf] * 20_000),
                              ("20,000 invalid rule conditions", [bad_leaf] * 20_000)):
        started = time.monotonic()
        response = client.post("/api/v1/rules", {"name": "r", "conditions": conditions, "actions": actions},
                               format="json")
        elapsed = time.monotonic() - started
        hostile.expect("segment_bounds", label, response.status_code == 422 and len(response.content) < 20_000
                       and elapsed < 2.0, f"{response.status_code} {len(response.content)} bytes {elapsed:.2f}s")


@pytest.mark.attack("oversize")
def test_numbers_out_of_range_are_refused_not_stored(hostile, owner):
    """1e309 (infinity once parsed; JSON and jsonb cannot hold it) is a malformed body; a whole number past 64 bits
    in a segment comparison is a 422 (SQLite cannot bind it); numeric query parameters keep their bounds."""
    client = client_for(owner)
    ProfileFactory(tenant=owner.tenant, traits={"v": 1})
    big = "1" + "0" * 40
    bodies = (
        ("/api/v1/cdp/events/track",
         '{"event_type": "x", "identifiers": {"email": "a@x.co"}, "properties": {"v": 1e309}}', 400),
        ("/api/v1/cdp/profiles", '{"identifiers": {"email": "a@x.co"}, "traits": {"v": -1e309}}', 400),
        ("/api/v1/cdp/segments/preview", '{"conditions": {"rules": [{"field": "traits.v", "operator": "greater_than", '
                                         '"value": 1e400}]}}', 400),
        ("/api/v1/cdp/segments/preview", '{"conditions": {"rules": [{"field": "traits.v", "operator": "greater_than", '
                                         f'"value": {big}}}]}}}}', 422),
        ("/api/v1/cdp/segments/preview", '{"conditions": {"rules": [{"event_type": "x", "where": [{"field": '
                                         f'"properties.v", "operator": "less_than", "value": -{big}}}]}}]}}}}', 422),
        ("/api/v1/cdp/events/track", '{"event_type": "x", "identifiers": {"email": "a@x.co"}, "properties": {"v": '
                                     + "9" * 5000 + "}}", 400),
    )
    for path, body, status in bodies:
        response = client.post(path, body, content_type="application/json")
        _refused(hostile, "oversize", f"POST {path} with {body[-60:]}", response, status)
    for path in (f"/api/v1/campaigns?limit={big}", f"/api/v1/cdp/profiles?page={big}",
                 f"/api/v1/leadscoring/results?offset={big}", f"/api/v1/analytics/attribution/compare?seed={big}",
                 "/api/v1/analytics/attribution?half_life_days=1e309"):
        _refused(hostile, "oversize", f"GET {path[:60]}", client.get(path), 422)
    assert not Event.objects.for_tenant(owner.tenant).exists()


def _deep(levels: int) -> dict:
    """`levels` nested objects: {"a": {"a": … {"a": 1}}}."""
    value: object = 1
    for _ in range(levels):
        value = {"a": value}
    return value  # type: ignore[return-value]


@pytest.mark.attack("oversize")
def test_json_nesting_is_bounded_with_a_422_naming_where(hostile, owner):
    client = client_for(owner)
    for levels in (MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 930, 5_000):
        for method, path, field in (("PATCH", "/api/v1/users/me", "preferences"),
                                    ("POST", "/api/v1/cdp/profiles", "traits")):
            body = {field: _deep(levels - 1)}  # the body itself is the first level
            if field == "traits":
                body["identifiers"] = {"email": f"deep{levels}@example.com"}
            try:
                payload = json.dumps(body)
            except RecursionError:  # deeper than this process's own encoder goes: build the text by hand
                payload = '{"' + field + '": ' + '{"a": ' * (levels - 1) + "1" + "}" * levels
            response = client.generic(method, path, payload, content_type="application/json")
            if levels <= MAX_JSON_DEPTH:
                hostile.expect("oversize", f"{method} {path} {levels} levels deep is stored",
                               response.status_code in (200, 201), f"{response.status_code} {response.content[:200]!r}")
                continue
            errors = response.json().get("errors", {}) if is_error_format(response) else {}
            named = [k for k in errors if k == "body" or k.startswith(f"{field}.a")]
            hostile.expect("oversize", f"{method} {path} {levels} levels deep: 422 naming where",
                           response.status_code == 422 and named
                           and f"at most {MAX_JSON_DEPTH} levels" in errors[named[0]][0],
                           f"{response.status_code} {response.content[:300]!r}")
    me = client.get("/api/v1/users/me").json()
    depth, value = 0, me["preferences"]
    while isinstance(value, dict):
        depth, value = depth + 1, value.get("a")
    assert depth == MAX_JSON_DEPTH - 1 and value == 1  # what was stored reads back whole
