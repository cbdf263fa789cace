"""The outside world of the cluster test, as local HTTP servers in threads of the test process:

- `FakeGraphApi`: Meta's Graph API as far as Stratum calls it — custom audiences (`POST /act_<id>/customaudiences`
  answers `{"id"}`; `GET /act_<id>/customaudiences?fields=id,name&filtering=[{"field": "name", "operator":
  "CONTAIN"|"EQUAL", "value"}]` answers `{"data": [{"id", "name"}], "paging": {…}}`; `POST|DELETE /<audience_id>/users` with a `payload` of `{"schema": ["EMAIL", "PHONE"], "data":
  [[sha256, sha256], …]}` answers `{"audience_id", "session_id", "num_received", "num_invalid_entries",
  "invalid_entry_samples"}`), campaign reads (`GET /<id>?fields=…`) and updates (`POST /<campaign_id>` answers
  `{"success": true}`), errors in Graph's `{"error": {"message", "type", "code", "fbtrace_id"}}` shape (190 for a
  token it does not know). The connector is pointed at it with META_GRAPH_URL. It can hold the next request to an
  endpoint (the test then kills the worker that sent it); a held request is answered with an error and recorded
  as nothing — the platform never accepted it. `lose_next` makes the next matching call succeed on the platform
  while its answer never comes (the client times out): a create whose response was lost.
- `WebhookReceiver`: a customer's endpoint; it verifies every delivery's Standard Webhooks signature with the
  `standardwebhooks` library and keeps each one (id, event type, body, whether the signature held).
"""
from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=type(self).__name__, daemon=True)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet: the test asserts on what was recorded
        pass

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the caller is gone (a killed worker)
            pass


# --- Meta's Graph API -----------------------------------------------------------------------------------

@dataclass
class Hold:
    """The next request whose path ends with `suffix` (and of `method`, if given) waits until `release` is set;
    `arrived` says it came. With `accept`, the platform does what was asked and only the answer is lost."""
    suffix: str
    method: str | None = None
    accept: bool = False
    late: bool = False  # with accept: answered once released (a slow platform), not lost
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str) -> bool:
        return path.endswith(self.suffix) and self.method in (None, method)


class FakeGraphApi(_Server):
    def __init__(self, *, token: str, account_id: str, currency: str = "USD"):
        super().__init__(_GraphHandler)
        self.token, self.account_id, self.currency = token, account_id, currency
        self.audiences: dict[str, dict] = {}  # id -> {"name", "users": Counter of (email hash, phone hash)}
        self.campaigns: dict[str, dict] = {}  # id -> fields set by updates (status, daily_budget)
        self.calls: list[tuple[str, str]] = []  # (method, path) of every accepted call
        self.held: list[str] = []  # paths of requests held and dropped
        self.hold: Hold | None = None

    def hold_next(self, suffix: str, *, method: str | None = None) -> Hold:
        self.hold = Hold(suffix, method)
        return self.hold

    def lose_next(self, suffix: str, *, method: str | None = None) -> Hold:
        """The next matching call is carried out but never answered (until `release`, then the connection drops)."""
        self.hold = Hold(suffix, method, accept=True)
        return self.hold

    def delay_next(self, suffix: str, *, method: str | None = None) -> Hold:
        """The next matching call is carried out and answered once `release` is set (a slow platform)."""
        self.hold = Hold(suffix, method, accept=True, late=True)
        return self.hold

    def uploads(self) -> Counter:
        """How often each member row was accepted, over every audience."""
        total: Counter = Counter()
        for audience in self.audiences.values():
            total.update(audience["users"])
        return total


def _name_passes(name: str, rule: dict) -> bool:
    if rule.get("field") != "name":
        return True
    value = str(rule.get("value", ""))
    return value in name if rule.get("operator") == "CONTAIN" else name == value


class _GraphHandler(_Handler):
    lost: Hold | None = None
    deferred: tuple[int, dict] | None = None

    def answer(self, status: int, payload: dict) -> None:
        if self.lost is not None:  # done on the platform; the answer waits outside the API's lock (see `call`)
            self.deferred = (status, payload)
            return
        super().answer(status, payload)

    def call(self, method: str) -> None:
        self.lost = self.deferred = None
        self.handle_call(method)
        lost, deferred, self.lost = self.lost, self.deferred, None
        if lost is not None and deferred is not None:  # the answer late, or lost (the client times out)
            lost.arrived.set()
            lost.release.wait(120)
            if not lost.late:
                self.close_connection = True
                return
            super().answer(*deferred)

    def error(self, status: int, message: str, code: int, kind: str = "OAuthException") -> None:
        self.answer(status, {"error": {"message": message, "type": kind, "code": code,
                                       "fbtrace_id": uuid.uuid4().hex[:11]}})

    def handle_call(self, method: str) -> None:
        api: FakeGraphApi = self.server.owner  # type: ignore[attr-defined]
        raw = self.body()
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        form = parse_qs(raw.decode()) if raw else {}
        segments = parts.path.strip("/").split("/")[1:]  # without the version
        if self.headers.get("Authorization") != f"Bearer {api.token}":
            return self.error(401, "Invalid OAuth access token - Cannot parse access token", 190)
        hold = api.hold
        if hold is not None and hold.matches(method, parts.path) and hold.accept:
            api.hold = None
            self.lost = hold
        elif hold is not None and hold.matches(method, parts.path):
            api.hold = None
            hold.arrived.set()
            hold.release.wait(120)
            with api.lock:
                api.held.append(parts.path)
            return self.error(500, "An unexpected error has occurred. Please retry your request later.", 2,
                              "OAuthException")
        with api.lock:
            api.calls.append((method, parts.path))
            if method == "GET" and len(segments) == 2 and segments[1] == "customaudiences":
                if segments[0] != api.account_id:
                    return self.error(400, "Unsupported get request.", 100, "GraphMethodException")
                rows = [{"id": key, "name": audience["name"]} for key, audience in api.audiences.items()
                        if all(_name_passes(audience["name"], rule) for rule in json.loads(
                            (query.get("filtering") or ["[]"])[0]))]
                return self.answer(200, {"data": rows, "paging": {"cursors": {"before": "MAZDZD", "after": "MAZDZD"}}})
            if method == "POST" and len(segments) == 2 and segments[1] == "customaudiences":
                if segments[0] != api.account_id:
                    return self.error(400, "Unsupported post request.", 100, "GraphMethodException")
                audience_id = str(23850000000000 + len(api.audiences) + 1)
                api.audiences[audience_id] = {"name": form.get("name", [""])[0], "users": Counter()}
                return self.answer(200, {"id": audience_id})
            if method in ("POST", "DELETE") and len(segments) == 2 and segments[1] == "users":
                audience = api.audiences.get(segments[0])
                if audience is None:
                    return self.error(400, "Unsupported post request.", 100, "GraphMethodException")
                payload = json.loads((form.get("payload") or query.get("payload") or ["{}"])[0])
                rows = [tuple(row) for row in payload.get("data") or []]
                if payload.get("schema") != ["EMAIL", "PHONE"]:
                    return self.error(400, "Invalid schema", 100, "OAuthException")
                if method == "POST":
                    audience["users"].update(rows)
                else:
                    for row in rows:
                        audience["users"].pop(row, None)
                return self.answer(200, {"audience_id": segments[0], "session_id": str(uuid.uuid4().int)[:19],
                                         "num_received": len(rows), "num_invalid_entries": 0,
                                         "invalid_entry_samples": {}})
            if len(segments) == 1 and method == "GET":
                if segments[0] == api.account_id:
                    return self.answer(200, {"id": api.account_id, "currency": api.currency})
                return self.answer(200, {"id": segments[0], **api.campaigns.get(segments[0], {"daily_budget": "5000"})})
            if len(segments) == 1 and method == "POST":
                api.campaigns.setdefault(segments[0], {}).update({k: v[0] for k, v in form.items()})
                return self.answer(200, {"success": True})
            if method == "GET" and len(segments) == 2:  # an edge nobody filled in this scenario
                return self.answer(200, {"data": [], "paging": {}})
        return self.error(400, f"Unknown path components: /{'/'.join(segments)}", 2500)

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self.call("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.call("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self.call("DELETE")


# --- a customer's webhook endpoint -------------------------------------------------------------------

@dataclass
class Delivery:
    webhook_id: str
    event_type: str
    body: dict
    signature_valid: bool


class WebhookReceiver(_Server):
    def __init__(self):
        super().__init__(_ReceiverHandler)
        self.secret = ""  # set once the endpoint is registered (the API shows the secret once)
        self.deliveries: list[Delivery] = []

    def received(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)


class _ReceiverHandler(_Handler):
    def do_POST(self) -> None:  # noqa: N802
        from standardwebhooks import Webhook
        from standardwebhooks.webhooks import WebhookVerificationError

        receiver: WebhookReceiver = self.server.owner  # type: ignore[attr-defined]
        raw = self.body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            Webhook(receiver.secret).verify(raw, headers)
            valid = True
        except WebhookVerificationError:
            valid = False
        body = json.loads(raw or b"{}")
        with receiver.lock:
            receiver.deliveries.append(Delivery(webhook_id=headers.get("webhook-id", ""),
                                                event_type=str(body.get("type") or body.get("event") or ""),
                                                body=body, signature_valid=valid))
        self.answer(200, {"received": True})
