"""The real tracking SDKs against a live Stratum: segment-analytics-python and rudder-sdk-python (PyPI) and
@segment/analytics-node (npm, installed by scripts/sdk-clients.sh under var/npm), each pointed at the server with a
source's write key. Each sends the same scenario — page as an anonymous visitor, identify, alias, two purchases,
a product view, group — in several batches, through a small proxy (sdk_harness.py, tests only) that lets the first
batch reach the server and then answers 503, so the SDK retries it: nothing may land twice (messageId). Then the
profile, its identities, events, identity log and totals are read back through Stratum's API.

The browser test (analytics.js, @segment/analytics-next's npm build) is in test_segment_browser.py; parallel SDK
batches against a multi-worker gunicorn are in test_segment_concurrency.py."""
from __future__ import annotations

import pytest

from cdp.services.sources import source_create

from .sdk_harness import HTTP_TIMEOUT, FlakyProxy, assert_scenario_landed, node_ready, run_node


def python_scenario(client, tag: str) -> None:
    user, anon = f"{tag}-user", f"{tag}-anon"
    client.page(anonymous_id=anon, name="Pricing", properties={"path": "/pricing"})
    client.identify(user, {"email": f"{tag}@sdk.example", "plan": "pro"})
    client.alias(anon, user)
    client.track(user, "Order Completed", {"revenue": 19.99, "order_id": f"{tag}-1"})
    client.track(user, "Order Completed", {"revenue": 5.01, "order_id": f"{tag}-2"})
    client.track(user, "Product Viewed", {"sku": "sku-1"})
    client.group(user, "acme", {"name": "Acme"})


def test_segment_analytics_python(live_server, segment_world):
    from segment.analytics import Client

    tenant, token = segment_world
    key = source_create(tenant=tenant, name="python backend", kind="server")[1]
    errors: list = []
    with FlakyProxy(live_server.url, fail=1) as proxy:
        client = Client(write_key=key, host=proxy.url, upload_size=3, upload_interval=0.1, max_retries=5,
                        gzip=True, on_error=lambda error, batch: errors.append(error), timeout=HTTP_TIMEOUT)
        python_scenario(client, "py")
        client.flush()
        client.shutdown()
    assert errors == []
    assert len(proxy.requests) >= 3 and proxy.requests[0]["headers"].get("Content-Encoding") == "gzip"
    assert proxy.retried == 1  # the first batch reached the server twice
    assert_scenario_landed(live_server.url, token, "py")


def test_rudder_sdk_python(live_server, segment_world):
    from rudderstack.analytics.client import Client

    tenant, token = segment_world
    key = source_create(tenant=tenant, name="rudder backend", kind="server")[1]
    errors: list = []
    with FlakyProxy(live_server.url, fail=1) as proxy:
        client = Client(write_key=key, host=proxy.url, upload_size=3, upload_interval=0.1, max_retries=5,
                        on_error=lambda error, batch: errors.append(error), timeout=HTTP_TIMEOUT)
        python_scenario(client, "rudder")
        client.flush()
        client.shutdown()
    assert errors == []
    assert len(proxy.requests) >= 3 and proxy.retried == 1
    assert_scenario_landed(live_server.url, token, "rudder")


def test_segment_analytics_node(live_server, segment_world):
    if reason := node_ready():
        pytest.skip(reason)
    tenant, token = segment_world
    key = source_create(tenant=tenant, name="node backend", kind="server")[1]
    with FlakyProxy(live_server.url, fail=1) as proxy:
        outcome = run_node(proxy.url, key, "node")
    assert outcome["failures"] == []
    assert len(proxy.requests) >= 3 and proxy.retried == 1
    assert all(r["headers"].get("Authorization", "").startswith("Basic ") for r in proxy.requests)
    assert_scenario_landed(live_server.url, token, "node")
