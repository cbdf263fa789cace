"""The Segment-compatible Tracking API (`/v1/…`, cdp/tracking_urls.py) in the OpenAPI schema.

Those paths are plain Django views outside DRF (only a source's write key authenticates there), so drf-spectacular
cannot see them; this schema hook describes them from the same constants the views enforce. Only the documented
names are listed: the one-letter aliases analytics.js posts to (`/v1/t`, `/v1/b`, …) and `/v1/import` answer the
same way.
"""
from __future__ import annotations

from .services.segment import CALL_TYPES, MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, MAX_CALL_BYTES

SECURITY_SCHEME = "segmentWriteKey"
TAG = "Tracking (Segment-compatible)"
MESSAGE = "SegmentMessage"

_COMMON = {
    "type": {"type": "string", "enum": list(CALL_TYPES), "description": "The call; implied by the path on a "
                                                                        "single call, required in a batch."},
    "userId": {"type": "string", "description": "Your id of the person: the profile's `external_id`."},
    "anonymousId": {"type": "string", "description": "The device's id: the profile's `anonymous_id`."},
    "messageId": {"type": "string", "maxLength": 128, "description": "Idempotency key: a retried message is "
                                                                     "stored once."},
    "timestamp": {"type": "string", "format": "date-time"},
    "sentAt": {"type": "string", "format": "date-time", "description": "Corrects the client's clock: "
                                                                      "receivedAt − (sentAt − timestamp)."},
    "context": {"type": "object", "additionalProperties": True, "description": "`context.traits.email` / "
                                                                              "`phone` become identities."},
    "event": {"type": "string", "description": "track: the event's name (`Order Completed` is a purchase)."},
    "name": {"type": "string", "description": "page/screen: its name."},
    "category": {"type": "string", "description": "page: its category."},
    "properties": {"type": "object", "additionalProperties": True},
    "traits": {"type": "object", "additionalProperties": True},
    "groupId": {"type": "string", "description": "group: the account the person belongs to."},
    "previousId": {"type": "string", "description": "alias: the earlier (anonymous) id joined to userId."},
    "writeKey": {"type": "string", "description": "The source's write key, as analytics.js sends it (instead of "
                                                  "Basic auth)."},
}
_OK = {"description": "Accepted. As Segment, a message that cannot be stored (no identifier, no event name) is "
                      "dropped and counted, not refused.",
       "content": {"application/json": {"schema": {
           "type": "object", "required": ["success"], "properties": {"success": {"type": "boolean", "enum": [True]}}}}}}
_ERRORS = {
    "400": "Invalid JSON, not an object, or over the size limits "
           f"({MAX_CALL_BYTES // 1024} KB a call or message, {MAX_BATCH_BYTES // 1024} KB and {MAX_BATCH_MESSAGES} "
           "messages a batch, measured after gzip).",
    "401": "No write key, or a malformed, unknown or revoked one.",
    "403": "The source's tenant is suspended or its plan lacks the CDP; a browser source's origin not allowed.",
    "429": "The tenant's rate limit (its own bucket for tracking), or too many failed keys from this address: "
           "`Retry-After` says when.",
    "503": "The database is busy or unavailable: retry after `Retry-After` (the SDKs do).",
}


def _error() -> dict:
    return {"allOf": [{"$ref": "#/components/schemas/Error"}, {
        "type": "object", "properties": {"success": {"type": "boolean", "enum": [False]}}}]}


def _operation(call: str | None) -> dict:
    body = ({"type": "object", "required": ["batch"], "properties": {
        "batch": {"type": "array", "maxItems": MAX_BATCH_MESSAGES, "items": {"$ref": f"#/components/schemas/{MESSAGE}"}},
        "context": _COMMON["context"], "sentAt": _COMMON["sentAt"], "writeKey": _COMMON["writeKey"]}}
            if call is None else {"$ref": f"#/components/schemas/{MESSAGE}"})
    return {
        "operationId": f"tracking_{call or 'batch'}",
        "tags": [TAG],
        "summary": f"Segment `{call}` call" if call else "Segment batch of calls",
        "description": "Segment's HTTP Tracking API on Stratum's host: point an SDK's host at this server and give "
                       "it a source's write key (docs/cdp.md). The message goes through the CDP's one ingestion path.",
        "security": [{SECURITY_SCHEME: []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body},
                                                      "text/plain": {"schema": body}}},
        "responses": {"200": _OK, **{code: {"description": text, "content": {"application/json": {"schema": _error()}}}
                                     for code, text in _ERRORS.items()}},
    }


def tracking_paths(result, generator, request, public):
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS): adds `/v1/<call>` and `/v1/batch`."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})[MESSAGE] = {
        "type": "object", "additionalProperties": True, "properties": _COMMON,
        "description": "One Segment message (identify, track, page, screen, group or alias)."}
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http", "scheme": "basic",
        "description": "A source's write key as the Basic user name, with an empty password (what Segment's SDKs "
                       "send); analytics.js may send `writeKey` in the body instead."}
    paths = result.setdefault("paths", {})
    for call in CALL_TYPES:
        paths[f"/v1/{call}"] = {"post": _operation(call)}
    paths["/v1/batch"] = {"post": _operation(None)}
    result.setdefault("tags", []).append({"name": TAG, "description": "Segment-compatible ingestion (write keys)."})
    return result
