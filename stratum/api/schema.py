"""OpenAPI generation hooks and authentication extensions (drf-spectacular)."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "The one error format of the whole API (Stratum and Catalyst resources alike).",
    "required": ["detail", "code", "status_code", "message"],
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, for a person."},
        "code": {"type": "string", "description": "Stable machine code, e.g. VALIDATION_ERROR, NOT_FOUND."},
        "status_code": {"type": "integer", "description": "The HTTP status, repeated."},
        "message": {"type": "string", "description": "The status's short text, e.g. \"Validation error\"."},
        "errors": {
            "type": "object",
            "description": "Per field (422/400): the field's path (`items[0].email`) -> its messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}
ERROR_DESCRIPTIONS = {
    400: "Malformed request (e.g. a body that is not valid JSON).",
    401: "Missing, invalid or expired credentials.",
    403: "The role, the API key's scopes, the plan or the tenant's status does not allow this.",
    404: "Not found (another tenant's object is indistinguishable from a missing one).",
    409: "The resource is not in a state that allows this.",
    413: "The request body is too large.",
    415: "Unsupported request media type.",
    422: "Invalid parameters or body; `errors` names each field.",
    429: "Rate limit exceeded (see Retry-After).",
    502: "An upstream provider failed.",
    503: "A dependency is unavailable or not configured.",
}
METHODS = ("get", "post", "put", "patch", "delete")


def document_errors(result, generator, request, public):
    """Documents the error answers every operation can give, once, in the error format.

    Per operation, from its view: 401 where it authenticates, 403 and 404 where it needs a permission (roles,
    API-key scopes, plan gates, a suspended tenant; tenant-less principals and objects of other tenants are
    404), 429 where the rate limiter runs, 422 where it takes parameters or a body, 400/413/415 where it takes
    a body. Codes a view documents itself are kept; a documented error without a body gets the error schema.
    """
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_COMPONENT] = ERROR_SCHEMA
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    views = _views_by_operation(generator)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code in sorted(_error_codes(path, method, operation, views.get((path, method)))):
                responses.setdefault(str(code), {"description": ERROR_DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400 and not response.get("content"):
                    response["content"] = {"application/json": {"schema": ref}}
                    response["description"] = response.get("description") or ERROR_DESCRIPTIONS.get(int(code), "")
    return result


def _views_by_operation(generator) -> dict:
    views = {}
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or []:
        view = generator.create_view(callback, method)
        views[(generator.coerce_path(path, method, view), method.lower())] = view
    return views


def _error_codes(path: str, method: str, operation: dict, view) -> set[int]:
    from rest_framework.permissions import AllowAny

    if view is None:  # not one of ours: what its security section says
        authenticates = guarded = throttled = bool(operation.get("security"))
    else:
        authenticates = bool(view.authentication_classes)
        guarded = any(p is not AllowAny for p in view.permission_classes)
        throttled = bool(view.throttle_classes)
    codes: set[int] = set()
    if authenticates:
        codes.add(401)
    if guarded:
        codes.update({403, 404})
    if "{" in path:
        codes.add(404)
    if throttled:
        codes.add(429)
    if operation.get("parameters"):
        codes.add(422)
    if operation.get("requestBody") or method in ("post", "put", "patch"):
        codes.update({400, 413, 415, 422})
    return codes


def normalize_paths(endpoints):
    """Routers accept an optional trailing slash; document the canonical path without it."""
    normalized = []
    for path, path_regex, method, callback in endpoints:
        if path.endswith("/") and path != "/" and not path.endswith("/api/schema/"):
            path = path.rstrip("/")
        normalized.append((path, path_regex, method, callback))
    return normalized


class TenantJWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TenantJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "Access token from /api/v1/auth/login (30 minutes)."}


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-API-Key",
                "description": "An API key (sk_live_…); also accepted as `Authorization: Bearer sk_live_…`."}
