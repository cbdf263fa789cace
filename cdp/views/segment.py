"""Segment's HTTP Tracking API on Stratum's host: POST /v1/identify, track, page, screen, group, alias, batch.

Authenticated only by a source's write key — HTTP Basic with the key as user name (what the SDKs send) or
`writeKey` in the body (what analytics.js sends) — and nothing else: these are plain Django views outside DRF, so
no API authenticator (JWT, API key, session) ever runs here, and the write key is unknown to those on /api/.

Answers as Segment does: 200 `{"success": true}` (a message Segment would drop is dropped, not answered); 400 for
invalid JSON and for payloads over 32 KB per call or per message, or 500 KB per batch (measured after gzip, whose
decompression stops at that bound); other errors in Stratum's error format with `success: false` beside it.
Rate-limited with the source's tenant's tier (its own bucket, so tracking cannot starve the tenant's API calls).

CORS: a browser source answers its allowed origins (any origin when it lists none); a preflight carries no key, so
it is answered for any origin, and the origin is checked on the POST itself — also for "simple" requests (analytics.js
sends text/plain, which browsers do not preflight), which is why the check cannot be left to the browser. Hand-written
rather than django-cors-headers: the allowed origins are per source (per write key), not one list in settings.
"""
from __future__ import annotations

import base64
import json
import logging
import time
import zlib

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from stratum.api.clientaddr import client_address
from stratum.api.db import RETRY_AFTER_SECONDS, busy_reason
from stratum.api.entitlements import tenant_features
from stratum.api.errors import (
    BAD_REQUEST,
    DATABASE_BUSY,
    FEATURE_NOT_AVAILABLE,
    FORBIDDEN,
    PAYLOAD_TOO_LARGE,
    RATE_LIMITED,
    UNAUTHORIZED,
    VALIDATION_ERROR,
)
from stratum.api.exceptions import error_body
from stratum.api.ratelimit import take_token, tenant_rate_limit
from stratum.api.tenancy import tenant_scope

from ..models import SourceKind
from ..services.segment import MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, MAX_CALL_BYTES, message_too_large, segment_ingest
from ..services.sources import source_authenticate

logger = logging.getLogger("stratum.cdp.segment")

CORS_HEADERS = {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    # X-Retry-Count: analytics.js numbers its retries (a header the preflight must allow, or no retry gets through).
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding, X-Retry-Count",
    "Access-Control-Max-Age": "86400",
}


class TrackingError(Exception):
    def __init__(self, status: int, detail: str, code: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.detail, self.code, self.headers = status, detail, code, headers or {}


def _answer(status: int, body: dict, headers: dict | None = None) -> JsonResponse:
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _body(request, limit: int) -> bytes:
    """The request body, gunzipped when it says so, at most `limit` bytes (400 beyond, as Segment answers)."""
    too_large = f"The payload exceeds {limit // 1024} KB."
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise TrackingError(400, "Invalid Content-Length header.", BAD_REQUEST) from None
    if declared > limit:
        raise TrackingError(400, too_large, PAYLOAD_TOO_LARGE)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise TrackingError(400, too_large, PAYLOAD_TOO_LARGE)
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise TrackingError(400, f"Unsupported Content-Encoding {encoding[:20]!r}: send gzip or nothing.",
                            BAD_REQUEST)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw, limit + 1)  # a zip bomb stops here: never more than limit + 1 bytes
    except zlib.error:
        raise TrackingError(400, "The body is not valid gzip.", BAD_REQUEST) from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise TrackingError(400, too_large, PAYLOAD_TOO_LARGE)
    if not inflater.eof:
        raise TrackingError(400, "The gzip body is truncated.", BAD_REQUEST)
    return data


def _write_key(request, payload: dict) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "basic" and credentials:
        try:
            user = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            raise TrackingError(401, "Malformed Basic credentials.", UNAUTHORIZED) from None
        return user or None
    key = payload.get("writeKey")
    return key if isinstance(key, str) and key else None


def _limit(request, source) -> dict:
    """Takes a token of the tenant's tier for tracking; the X-RateLimit-* headers, or 429."""
    if not settings.RATELIMIT_ENABLED:
        return {}
    per_minute, burst = tenant_rate_limit(source.tenant)
    state = take_token(f"track:t:{source.tenant_id}", per_minute, burst)
    headers = {"X-RateLimit-Limit": str(state.limit), "X-RateLimit-Remaining": str(state.remaining),
               "X-RateLimit-Reset": str(state.reset), "RateLimit-Policy": state.policy_header,
               "RateLimit": state.header(time.time())}
    if not state.allowed:
        raise TrackingError(429, f"Rate limit exceeded ({state.refusal}). Retry in {state.retry_after} seconds.",
                            RATE_LIMITED, {**headers, "Retry-After": str(state.retry_after)})
    return headers


def _failed_attempt(request) -> None:
    """A request without a valid key counts against its address (anonymous limits): keys are not for guessing."""
    if settings.RATELIMIT_ENABLED:
        state = take_token(f"track:ip:{client_address(request)}", *settings.RATELIMIT_ANONYMOUS)
        if not state.allowed:
            raise TrackingError(429, f"Too many failed requests. Retry in {state.retry_after} seconds.",
                                RATE_LIMITED, {"Retry-After": str(state.retry_after)})


def _cors(source, origin: str | None) -> dict:
    if not origin:
        return {}
    allowed = source.kind == SourceKind.BROWSER and (not source.allowed_origins
                                                      or origin.rstrip("/").lower() in source.allowed_origins)
    if not allowed:
        why = ("this origin is not among the source's allowed origins" if source.kind == SourceKind.BROWSER
               else f"a {source.kind} source's key is not for browsers")
        raise TrackingError(403, f"Origin refused: {why}.", FORBIDDEN)
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


@method_decorator(csrf_exempt, name="dispatch")
class SegmentCallView(View):
    """One Segment call (`call_type`), or a batch of them (`call_type` None: each message names its type)."""

    call_type: str | None = None
    http_method_names = ["post", "options"]

    def options(self, request, *args, **kwargs):
        response = HttpResponse(status=204)
        origin = request.headers.get("Origin")
        if origin:
            response["Access-Control-Allow-Origin"] = origin
            response["Vary"] = "Origin"
            for name, value in CORS_HEADERS.items():
                response[name] = value
        return response

    def post(self, request, *args, **kwargs):
        received_at = timezone.now()
        origin = request.headers.get("Origin")
        cors: dict = {}
        try:
            batch = self.call_type is None
            body = _body(request, MAX_BATCH_BYTES if batch else MAX_CALL_BYTES)
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise TrackingError(400, "The body is not valid JSON.", VALIDATION_ERROR) from None
            if not isinstance(payload, dict):
                raise TrackingError(400, "The body must be a JSON object.", VALIDATION_ERROR)
            source = source_authenticate(write_key=_write_key(request, payload))
            if source is None:
                _failed_attempt(request)
                raise TrackingError(401, "Invalid or revoked write key.", UNAUTHORIZED)
            if source.tenant.is_suspended:
                raise TrackingError(403, "This account is suspended.", FORBIDDEN)
            if not tenant_features(tenant=source.tenant).get("cdp", False):  # as every /cdp endpoint requires
                raise TrackingError(403, f"The cdp feature is not available on the {source.tenant.plan} plan.",
                                    FEATURE_NOT_AVAILABLE)
            cors = _cors(source, origin)
            headers = _limit(request, source)
            if batch:
                messages = payload.get("batch")
                if not isinstance(messages, list):
                    raise TrackingError(400, "The body is {\"batch\": [...]}.", VALIDATION_ERROR)
                if len(messages) > MAX_BATCH_MESSAGES:
                    raise TrackingError(400, f"At most {MAX_BATCH_MESSAGES} messages per batch.", PAYLOAD_TOO_LARGE)
                if any(message_too_large(m) for m in messages):
                    raise TrackingError(400, f"A message exceeds {MAX_CALL_BYTES // 1024} KB.", PAYLOAD_TOO_LARGE)
            else:
                messages = [payload]
            with tenant_scope(source.tenant):
                segment_ingest(tenant=source.tenant, messages=messages, call_type=self.call_type,
                               batch_sent_at=payload.get("sentAt") if batch else None,
                               batch_context=payload.get("context") if batch else None, received_at=received_at)
        except TrackingError as exc:
            body = {"success": False, **error_body(exc.status, exc.detail, exc.code)}
            return _answer(exc.status, body, {**cors, **exc.headers})
        except Exception as exc:
            if (reason := busy_reason(exc)) is None:
                raise
            logger.warning("database busy on %s: %s", request.path, exc)
            body = {"success": False, **error_body(503, reason, DATABASE_BUSY)}
            return _answer(503, body, {**cors, "Retry-After": str(RETRY_AFTER_SECONDS)})
        return _answer(200, {"success": True}, {**cors, **headers})


def call_view(call_type: str | None):
    return SegmentCallView.as_view(call_type=call_type)
