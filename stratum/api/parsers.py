"""JSON parsing with a size ceiling: a body over the view's limit is a 413, never read whole."""
from __future__ import annotations

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .exceptions import PayloadTooLarge


def body_limit_for(view) -> int:
    return int(getattr(view, "max_body_bytes", None) or settings.API_MAX_BODY_BYTES)


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = body_limit_for(parser_context.get("view"))
        if stream is None:
            return {}
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body exceeds {limit} bytes.")
        if not raw.strip():
            return {}
        try:
            return json.loads(raw.decode(parser_context.get("encoding") or "utf-8"),
                              parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {str(exc)[:200]}")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
