"""analytics.js in a real browser: @segment/analytics-next's npm build (its UMD bundle, installed by
scripts/sdk-clients.sh under var/npm) on a test page served from loopback, sending to the live Stratum on another
origin — so the preflight and the browser source's allowed origins are exercised — through the proxy that answers
the first call 503 after the server stored it (analytics.js retries: nothing lands twice).

Skipped (with the reason) without Playwright, Debian's Chromium (scripts/ci-extras.sh) or the npm build."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest

from cdp.services.sources import source_create

from .sdk_harness import HTTP_TIMEOUT, NPM_DIR, FlakyProxy, assert_scenario_landed, node_ready

UMD_DIR = NPM_DIR / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"

PAGE = """<!doctype html>
<html><head><title>Pricing</title><script src="/umd/index.js"></script></head>
<body><h1>Stratum tracking test</h1>
<script>
window.sendScenario = async function (writeKey, apiHost, tag) {
  const user = tag + '-user'
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({
    writeKey: writeKey, cdnURL: location.origin,
    // No request leaves loopback: no settings fetched from Segment's CDN, no metrics sent to api.segment.io.
    cdnSettings: {integrations: {'Segment.io': {apiKey: writeKey, apiHost: apiHost, protocol: 'http'}},
                  metrics: {sampleRate: 0}},
  })
  analytics.setAnonymousId(tag + '-anon')
  await analytics.page('Pricing', {path: '/pricing'})
  await analytics.identify(user, {email: tag + '@sdk.example', plan: 'pro'})
  await analytics.alias(user, tag + '-anon')
  await analytics.track('Order Completed', {revenue: 19.99, order_id: tag + '-1'})
  await analytics.track('Order Completed', {revenue: 5.01, order_id: tag + '-2'})
  await analytics.track('Product Viewed', {sku: 'sku-1'})
  await analytics.group('acme', {name: 'Acme'})
  return 'sent'
}
</script></body></html>
"""


class PageServer:
    """The test page and the analytics-next build, from loopback (its own origin)."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                path = urlsplit(self.path).path
                if path == "/":
                    body, kind = PAGE.encode(), "text/html"
                else:
                    name = path.rsplit("/", 1)[-1]  # /umd/<file> and the chunks webpack asks for by name
                    target = UMD_DIR / name
                    if not name.endswith(".js") or not target.is_file():
                        self.send_error(404)
                        return
                    body, kind = target.read_bytes(), "application/javascript"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def events_of(server_url: str, token: str) -> int:
    response = httpx.get(f"{server_url}/api/v1/cdp/events", headers={"Authorization": f"Bearer {token}"},
                         timeout=HTTP_TIMEOUT)
    return response.json()["total"]


@pytest.fixture
def page_site():
    if reason := node_ready():
        pytest.skip(reason)
    if not (UMD_DIR / "index.js").is_file():
        pytest.skip("@segment/analytics-next's build is not installed (scripts/sdk-clients.sh)")
    pages = PageServer()
    yield pages
    pages.close()


@pytest.fixture
def browser_key(segment_world, page_site) -> str:
    """Made before the browser starts: Playwright's event loop forbids the ORM in the test body."""
    return source_create(tenant=segment_world[0], name="web shop", kind="browser",
                         allowed_origins=[page_site.origin])[1]


def test_analytics_js_in_chromium_lands_on_the_right_profile(live_server, segment_world, page_site, browser_key,
                                                             browser_page):
    token = segment_world[1]
    with FlakyProxy(live_server.url, fail=1) as proxy:
        api_host = proxy.url.removeprefix("http://") + "/v1"
        browser_page.goto(page_site.origin + "/")
        sent = browser_page.evaluate("([k, h, t]) => window.sendScenario(k, h, t)", [browser_key, api_host, "web"])
        assert sent == "sent"
        # The calls resolve before the 503'd one is retried (from analytics.js' queue, after a back-off): wait for it.
        deadline = time.monotonic() + 90
        while (proxy.retried < 1 or events_of(live_server.url, token) < 4) and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(1)  # a second retry, if one came, would arrive now
    posts = [r for r in proxy.requests if r["headers"].get("Origin") == page_site.origin]
    assert len(posts) >= 7, json.dumps(proxy.requests, default=str)[:2000]
    assert proxy.retried == 1
    assert_scenario_landed(live_server.url, token, "web", page_properties={"name": "Pricing", "path": "/pricing"},
                           alias_joins=False)
