"""JSON parsing with a size ceiling: a body over the view's limit is a 413, never read whole."""
from __future__ import annotations

import json
import math

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .exceptions import PayloadTooLarge, ValidationFailed


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
            text = raw.decode(parser_context.get("encoding") or "utf-8")
            data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        except RecursionError:  # far deeper than the bound: the parser gave up before we could name where
            raise ValidationFailed(errors={"body": [DEPTH_MESSAGE]}) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {str(exc)[:200]}") from exc
        if ("\\u0000" in text or _deeper_than(data, MAX_JSON_DEPTH)) and (problem := _body_problem(data)) is not None:
            path, message = problem
            raise ValidationFailed(errors={path: [message]})
        return data


MAX_JSON_DEPTH = 64
DEPTH_MESSAGE = f"JSON may nest at most {MAX_JSON_DEPTH} levels deep."
NUL_MESSAGE = "NUL characters (\\u0000) are not allowed."


def _deeper_than(data, limit: int) -> bool:
    """Whether containers nest deeper than `limit`: level by level over containers only, no paths built (the
    common case, a clean body, costs one pass; only a body that fails here or holds an escaped NUL — the only way a
    NUL reaches a parsed string, as JSON forbids raw control characters — goes through _body_problem)."""
    level = [data] if isinstance(data, (dict, list)) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        below = []
        for container in level:
            values = container.values() if isinstance(container, dict) else container
            below.extend(value for value in values if isinstance(value, (dict, list)))
        level, depth = below, depth + 1
    return False


def _body_problem(data) -> tuple[str, str] | None:
    """The first place that cannot be stored, with the reason: a key or string holding a NUL character (PostgreSQL
    text and jsonb cannot store one), or objects and arrays nested deeper than MAX_JSON_DEPTH (writing them, or
    reading them back, would exhaust the stack: a 500). Iterative: a deep body cannot exhaust the stack here."""
    stack = [("", data, 1)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path or "body", NUL_MESSAGE
        elif isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                return (path or "body")[:300], DEPTH_MESSAGE
            if isinstance(value, dict):
                for key, item in value.items():
                    child = f"{path}.{key}" if path else str(key)
                    if "\x00" in key:
                        return child.replace("\x00", "\\u0000"), NUL_MESSAGE
                    stack.append((child, item, depth + 1))
            else:
                stack.extend((f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))
    return None


def _finite_float(text: str) -> float:
    """1e309 parses to infinity, which JSON (and PostgreSQL jsonb) cannot store: refused like NaN/Infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
