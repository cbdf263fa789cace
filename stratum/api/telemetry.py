"""Traces (OpenTelemetry) and error reports (Sentry), each on only when configured.

OpenTelemetry, with `OTEL_EXPORTER_OTLP_ENDPOINT` set: spans for Django requests, psycopg queries, Redis commands,
Celery tasks (publish and run: the trace context travels in the message headers, so a request and the tasks it
queues are one trace) and outgoing httpx calls, exported over OTLP/HTTP in batches. Every span carries the tenant id
and the request id when they are known (`TenantSpanProcessor`; the request's own span gets them once the request has
been authenticated, from `observability.RequestIdMiddleware`). The SDK's own variables (OTEL_SERVICE_NAME,
OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_HEADERS, …) apply as documented by OpenTelemetry.

Sentry, with `SENTRY_DSN` set: the Django and Celery integrations, no default PII, and `sentry_scrub` run over every
event before it leaves: e-mail addresses, phone numbers, bearer tokens, JWTs and provider secrets in any string are
replaced, and the values of keys that name a secret (password, token, authorization, cookie, …) are filtered.
The tenant id and request id are tags.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings

from .observability import TRACING, current_request_id, current_tenant_id
from .version import VERSION

logger = logging.getLogger("stratum.telemetry")

TENANT_ATTRIBUTE = "stratum.tenant_id"
REQUEST_ATTRIBUTE = "stratum.request_id"
_installed = {"otel": False, "sentry": False}


# --- OpenTelemetry ----------------------------------------------------------------------------------------------
class TenantSpanProcessor:
    """Stamps every span, when it starts, with the tenant id and request id in scope."""

    def on_start(self, span, parent_context=None) -> None:
        if (tenant_id := current_tenant_id()) is not None:
            span.set_attribute(TENANT_ATTRIBUTE, tenant_id)
        if (request_id := current_request_id()) is not None:
            span.set_attribute(REQUEST_ATTRIBUTE, request_id)

    def _on_ending(self, span) -> None:
        pass

    def on_end(self, span) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_annotate(*, tenant_id: str | None, request_id: str | None) -> None:
    """Names the tenant (known only once the request is authenticated) on the current span, e.g. the request's."""
    from opentelemetry import trace

    span = trace.get_current_span()
    if not span.is_recording():
        return
    if tenant_id is not None:
        span.set_attribute(TENANT_ATTRIBUTE, tenant_id)
    if request_id is not None:
        span.set_attribute(REQUEST_ATTRIBUTE, request_id)


def tracing_instrument(*, tracer_provider=None) -> None:
    """Instruments Django, psycopg, Redis, Celery and httpx (once per process)."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    for instrumentor in (DjangoInstrumentor(), PsycopgInstrumentor(), RedisInstrumentor(), CeleryInstrumentor(),
                         HTTPXClientInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=tracer_provider)
    TRACING["annotate"] = span_annotate
    TRACING["on"] = True


def tracing_uninstrument() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    for instrumentor in (DjangoInstrumentor(), PsycopgInstrumentor(), RedisInstrumentor(), CeleryInstrumentor(),
                         HTTPXClientInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    TRACING["on"] = False


def tracing_setup() -> None:
    """With OTEL_EXPORTER_OTLP_ENDPOINT: a tracer provider exporting over OTLP/HTTP, and the instrumentations.
    (A forked Celery worker child re-starts the batch exporter's thread itself: the SDK registers at-fork hooks.)"""
    if _installed["otel"] or not settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME,
                                                        "service.version": VERSION,
                                                        "deployment.environment": settings.ENVIRONMENT}))
    provider.add_span_processor(TenantSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint and headers from OTEL_* env
    trace.set_tracer_provider(provider)
    tracing_instrument()
    _installed["otel"] = True


# --- Sentry -----------------------------------------------------------------------------------------------------
FILTERED = "[Filtered]"
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|api[-_]?key|authorization|cookie|session|csrf|signature|"
                         r"dsn|private|credential|otp|refresh|access[-_]?key|fernet", re.IGNORECASE)
_SCRUBBERS = (
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer " + FILTERED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), FILTERED),  # JWT
    (re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]{8,}|\bwhsec_[A-Za-z0-9+/=]{8,}|\bstr_[A-Za-z0-9_-]{16,}"),
     FILTERED),  # Stripe, webhook and Stratum API keys
    (re.compile(r"(?i)([?&](token|key|secret|signature|code|access_token|refresh_token|X-Amz-Signature)=)[^&\s]+"),
     r"\1" + FILTERED),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
)
_PHONE_CANDIDATE = re.compile(r"(?<![\w.:/-])\+?\(?\d[\d ().-]{6,}\d(?![\w:/-])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _phone(match: re.Match) -> str:
    """9 to 15 digits written as a phone number is (not a date, an amount or a plain id) → [phone]."""
    text = match.group(0)
    digits = sum(char.isdigit() for char in text)
    if _DATE.search(text) or not 9 <= digits <= 15 or ("." in text and " " not in text and "-" not in text):
        return text
    return "[phone]"


def scrub_text(value: str) -> str:
    for pattern, replacement in _SCRUBBERS:
        value = pattern.sub(replacement, value)
    return _PHONE_CANDIDATE.sub(_phone, value)


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 30:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: (FILTERED if isinstance(key, str) and _SECRET_KEY.search(key) and item not in (None, "", [], {})
                      else _scrub(item, depth + 1)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        # headers and cookies arrive as [name, value] pairs
        if len(value) == 2 and isinstance(value[0], str) and _SECRET_KEY.search(value[0]):
            return [value[0], FILTERED]
        return [_scrub(item, depth + 1) for item in value]
    return value


def sentry_scrub(event: dict, hint: dict | None = None) -> dict:
    """before_send / before_send_transaction: PII and secrets out of the whole event; tenant and request as tags."""
    event = _scrub(event)
    tags = event.setdefault("tags", {})
    if (tenant_id := current_tenant_id()) is not None:
        tags.setdefault("tenant_id", tenant_id)
    if (request_id := current_request_id()) is not None:
        tags.setdefault("request_id", request_id)
    event.pop("user", None)  # ids are enough, and are tags
    return event


def sentry_options(*, dsn: str, **overrides) -> dict:
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    return {"dsn": dsn, "environment": settings.SENTRY_ENVIRONMENT, "release": f"stratum@{VERSION}",
            "integrations": [DjangoIntegration(), CeleryIntegration()], "send_default_pii": False,
            "traces_sample_rate": settings.SENTRY_TRACES_SAMPLE_RATE, "before_send": sentry_scrub,
            "before_send_transaction": sentry_scrub, "max_request_body_size": "never", "include_local_variables": False,
            **overrides}


def sentry_setup() -> None:
    if _installed["sentry"] or not settings.SENTRY_DSN:
        return
    import sentry_sdk

    sentry_sdk.init(**sentry_options(dsn=settings.SENTRY_DSN))
    _installed["sentry"] = True
