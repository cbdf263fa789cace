"""OpenTelemetry: an API request and the task it queues are one trace (the context travels in the message headers to
a real worker), spans carry the tenant id. Sentry: a real sentry_sdk client with a transport that keeps the
envelopes; nothing personal or secret leaves, the tenant is a tag."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sentry_sdk
from celery.contrib.testing.worker import start_worker
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sentry_sdk.transport import Transport

from analytics.models import Report
from stratum.api.telemetry import (
    TENANT_ATTRIBUTE,
    TenantSpanProcessor,
    scrub_text,
    sentry_options,
    tracing_instrument,
    tracing_uninstrument,
)
from stratum.api.tenancy import tenant_scope
from stratum.celery import app
from tests.helpers import client_for

ROOT = Path(__file__).resolve().parents[2]
EXPORTER = InMemorySpanExporter()
_PROVIDER: list = []


@pytest.fixture
def spans():
    """One tracer provider for the test process (OpenTelemetry allows one), the production span processor first,
    an in-memory exporter; the instrumentations on for this test only."""
    if not _PROVIDER:
        provider = TracerProvider()
        provider.add_span_processor(TenantSpanProcessor())
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
        _PROVIDER.append(provider)
    EXPORTER.clear()
    tracing_instrument(tracer_provider=_PROVIDER[0])
    yield EXPORTER
    tracing_uninstrument()
    EXPORTER.clear()


@pytest.mark.django_db(transaction=True)
def test_a_request_and_the_task_it_queues_are_one_trace(spans, user):
    client = client_for(user)  # made after instrumenting: its handler loads the tracing middleware
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # through the broker to a worker: the context rides in the headers
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10):
            response = client.post("/api/v1/reporting/reports", {
                "template_id": "performance_summary", "name": "Traced", "format": "csv",
                "date_range": {"start": "2026-03-01", "end": "2026-03-14"}}, format="json", HTTP_X_REQUEST_ID="t-1")
            assert response.status_code == 202, response.content
            deadline = time.monotonic() + 30
            with tenant_scope(user.tenant):
                while Report.objects.get(pk=response.json()["id"]).status != "ready":
                    assert time.monotonic() < deadline, "the worker did not render the report"
                    time.sleep(0.1)
            time.sleep(0.3)  # the run span ends just after the task's last write
    finally:
        app.conf.task_always_eager = eager
    finished = spans.get_finished_spans()
    [server] = [s for s in finished if s.kind == trace.SpanKind.SERVER]
    [publish] = [s for s in finished if s.name.startswith("apply_async/analytics.tasks.report_render_task")]
    [run] = [s for s in finished if s.name.startswith("run/analytics.tasks.report_render_task")]
    assert server.context.trace_id == publish.context.trace_id == run.context.trace_id
    assert run.parent.span_id == publish.context.span_id  # extracted from the message headers by the worker
    assert run.context.span_id != server.context.span_id and threading.current_thread().name == "MainThread"
    tenant_id = str(user.tenant_id)
    assert server.attributes[TENANT_ATTRIBUTE] == tenant_id and server.attributes["stratum.request_id"] == "t-1"
    assert run.attributes[TENANT_ATTRIBUTE] == tenant_id and run.attributes["stratum.request_id"] == "t-1"
    queries = [s for s in finished if s.context.trace_id == server.context.trace_id
               and ("db.system" in s.attributes or "db.system.name" in s.attributes)]
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):  # psycopg's spans (SQLite is not instrumented)
        assert queries and all(s.attributes.get(TENANT_ATTRIBUTE) in (tenant_id, None) for s in queries)


def test_tracing_is_off_unless_an_endpoint_is_set():
    code = ("import django; django.setup(); from stratum.api.observability import TRACING; "
            "from opentelemetry import trace; print(TRACING['on'], type(trace.get_tracer_provider()).__name__)")
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("OTEL_", "SENTRY_")) and k not in ("DATABASE_URL", "REDIS_URL")}
    base = environment | {"DJANGO_SETTINGS_MODULE": "stratum.settings"}
    off = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, env=base)
    assert off.stdout.split() == ["False", "ProxyTracerProvider"], off.stderr
    on = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                        env=base | {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
    assert on.stdout.split() == ["True", "TracerProvider"], on.stderr
    bad = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=base | {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})
    assert "OTEL_EXPORTER_OTLP_ENDPOINT='collector:4318' is not valid: expected an http(s):// URL" in bad.stderr


# --- Sentry -----------------------------------------------------------------------------------------------------
class KeepingTransport(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)


@pytest.fixture
def sentry_events():
    transport = KeepingTransport()
    client = sentry_sdk.Client(**sentry_options(dsn="https://public@o0.ingest.sentry.io/1", transport=transport))
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        yield lambda: [json.loads(item.payload.get_bytes()) for envelope in transport.envelopes
                       for item in envelope.items if item.type == "event"]
    client.close()


@pytest.mark.django_db
def test_sentry_events_leave_without_pii_or_secrets_with_the_tenant_tag(sentry_events, tenant):
    with tenant_scope(tenant):
        try:
            raise ValueError("sync failed for ann@shop.example (+1 415 555 0101) with Bearer abc.def.ghi "
                             "and sk_live_0123456789abcdef")
        except ValueError:
            sentry_sdk.set_extra("payload", {"email": "bob@shop.example", "password": "hunter" + "2",  # split: Sentry sends source lines
                                             "api_key": "str_" + "k" * 40, "note": "call 0044 20 7946 0958",
                                             "url": "https://x.example/cb?code=abc123&state=s"})
            sentry_sdk.capture_exception()
    [event] = sentry_events()
    text = json.dumps(event)
    for leaked in ("ann@shop.example", "bob@shop.example", "415 555 0101", "7946 0958", "abc.def.ghi", "hunter2",
                   "sk_live_0123456789abcdef", "kkkkkkkk", "abc123"):
        assert leaked not in text, leaked
    [exception] = event["exception"]["values"]
    assert exception["value"] == "sync failed for [email] ([phone]) with Bearer [Filtered] and [Filtered]"
    assert event["extra"]["payload"] == {"email": "[email]", "password": "[Filtered]", "api_key": "[Filtered]",
                                         "note": "call [phone]", "url": "https://x.example/cb?code=[Filtered]&state=s"}
    assert event["tags"]["tenant_id"] == str(tenant.pk)


@pytest.mark.parametrize(("raw", "scrubbed"), [
    ("eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJlLXZhbHVl", "[Filtered]"),
    ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "[Filtered]"),
    ("order 12345 for 20.50 on 2026-03-01", "order 12345 for 20.50 on 2026-03-01"),  # not a phone
    ("X-Amz-Signature=deadbeef", "X-Amz-Signature=deadbeef"),  # only in a query string
    ("?X-Amz-Signature=deadbeef&x=1", "?X-Amz-Signature=[Filtered]&x=1"),
])
def test_the_scrubber(raw, scrubbed):
    assert scrub_text(raw) == scrubbed
