"""The Catalyst response envelope: {status_code, message, data}."""
from __future__ import annotations

from typing import Any

from rest_framework.response import Response


def catalyst_response(data: Any, *, message: str = "Success", status: int = 200) -> Response:
    return Response({"status_code": status, "message": message, "data": data}, status=status)


def catalyst_envelope_schema(inner: dict) -> dict:
    """OpenAPI schema of an envelope around `inner` (for extend_schema responses)."""
    return {
        "type": "object",
        "required": ["status_code", "message", "data"],
        "properties": {"status_code": {"type": "integer"}, "message": {"type": "string"}, "data": inner},
    }
