"""What the SDK tests share: a proxy that answers one 503 after the server stored a batch, the Node runner, and the
read-back of one scenario's profile through Stratum's API."""
from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import subprocess
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
NPM_DIR = BASE_DIR / "var" / "npm"
NODE_SCRIPT = Path(__file__).parent / "sdk" / "node_send.js"
HTTP_TIMEOUT = 60


class FlakyProxy:
    """Forwards to the server; the first `fail` batches are forwarded and then answered 503 (the client retries a
    batch the server already stored). Records every request's messages."""

    def __init__(self, upstream: str, *, fail: int = 1):
        self.upstream, self.fail = upstream.rstrip("/"), fail
        self.lock = threading.Lock()
        # Django's live server shares one connection among its request threads on in-memory SQLite, so two batches
        # in flight interleave inside one transaction (a test-server artefact: `make run` opens one connection per
        # thread). There the proxy forwards one request at a time; on PostgreSQL the SDK's batches stay concurrent.
        self.forwarding = threading.Lock() if connection.vendor == "sqlite" else contextlib.nullcontext()
        self.requests: list[dict] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _relay(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                with proxy.forwarding:
                    upstream = httpx.request(method, proxy.upstream + self.path, content=body, headers=headers,
                                             timeout=HTTP_TIMEOUT)
                status, answer = upstream.status_code, upstream.content
                with proxy.lock:
                    if method == "POST":
                        raw = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
                        try:
                            decoded = json.loads(raw)
                            messages = decoded["batch"] if "batch" in decoded else [decoded]
                        except (ValueError, TypeError):
                            messages = []
                        proxy.requests.append({"path": self.path, "status": status, "messages": messages,
                                               "headers": headers})
                        if proxy.fail > 0 and status == 200:
                            proxy.fail -= 1
                            status, answer = 503, b'{"success": false}'
                self.send_response(status)
                for name, value in upstream.headers.items():
                    if name.lower().startswith("access-control") or name.lower() == "content-type":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_POST(self):  # noqa: N802 - http.server's naming
                self._relay("POST")

            def do_OPTIONS(self):  # noqa: N802
                self._relay("OPTIONS")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def retried(self) -> int:
        return sum(1 for r in self.requests if r["status"] == 200) - len({
            tuple(m.get("messageId") for m in r["messages"]) for r in self.requests if r["status"] == 200})


def api(server_url: str, token: str, path: str, **params) -> dict:
    response = httpx.get(f"{server_url}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"},
                         timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response.json()


def assert_scenario_landed(server_url: str, token: str, tag: str, *, page_properties: dict | None = None,
                           alias_joins: bool = True) -> None:
    """One live profile holds the visitor and the user, with the exact identities, traits, events and totals.
    `page_properties`: what the page event's properties hold at least (analytics.js adds the page's url, title …).
    `alias_joins`: the alias call is what joined the visitor and the user (analytics.js' identify already sends
    the anonymous id beside the user id, so there the alias finds them joined)."""
    found = api(server_url, token, "/cdp/profiles", query=f"{tag}-user")["items"]
    assert len(found) == 1, found
    profile = api(server_url, token, f"/cdp/profiles/{found[0]['id']}")
    assert sorted((i["type"], i["value"]) for i in profile["identities"]) == [
        ("anonymous_id", f"{tag}-anon"), ("email", f"{tag}@sdk.example"), ("external_id", f"{tag}-user")]
    assert (profile["external_id"], profile["email"], profile["lifecycle_stage"]) == (
        f"{tag}-user", f"{tag}@sdk.example", "customer")
    traits = profile["traits"]
    assert {k: traits.get(k) for k in ("plan", "group_id", "group_traits", "total_orders", "ltv")} == {
        "plan": "pro", "group_id": "acme", "group_traits": {"name": "Acme"}, "total_orders": 2, "ltv": 25.0}
    events = api(server_url, token, "/cdp/events", profile_id=profile["id"], limit=100)
    assert events["total"] == 4, events
    assert sorted(e["event_type"] for e in events["items"]) == ["Product Viewed", "page", "purchase", "purchase"]
    assert {e["source"] for e in events["items"]} == {"segment"}
    assert len({e["message_id"] for e in events["items"]}) == 4
    page = next(e for e in events["items"] if e["event_type"] == "page")
    if page_properties is None:
        assert page["properties"] == {"path": "/pricing", "name": "Pricing"}
    else:
        assert page["properties"] | page_properties == page["properties"], page["properties"]
    purchases = sorted(Decimal(str(e["properties"]["revenue"])) for e in events["items"]
                       if e["event_type"] == "purchase")
    assert purchases == [Decimal("5.01"), Decimal("19.99")]
    # The anonymous visitor and the user met through the alias call: the identity log says so.
    links = api(server_url, token, f"/cdp/profiles/{profile['id']}/identity-links", limit=100)["items"]
    if alias_joins:
        assert any("alias: previousId" in link["reason"] for link in links), links


def node_ready() -> str | None:
    """Why the Node SDK test cannot run here, or None (installs the pinned packages once when npm is there)."""
    if shutil.which("node") is None:
        return "node is not installed"
    subprocess.run([str(BASE_DIR / "scripts" / "sdk-clients.sh")], check=False, capture_output=True, timeout=700)
    if not (NPM_DIR / "node_modules" / "@segment" / "analytics-node").is_dir():
        return "@segment/analytics-node is not installed (scripts/sdk-clients.sh needs npm)"
    return None


def run_node(host: str, key: str, tag: str, people: int = 1) -> dict:
    done = subprocess.run(["node", str(NODE_SCRIPT), host, key, tag, str(people)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NODE_PATH": str(NPM_DIR / "node_modules")})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


