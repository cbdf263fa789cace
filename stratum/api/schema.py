"""OpenAPI generation hooks and authentication extensions (drf-spectacular)."""
from __future__ import annotations

from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter

from .errors import error_codes
from .filters import filterset_of
from .pagination import StratumPagination

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
# For views that paginate by hand with StratumPagination (a `list` action gets them from the paginator).
PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1."),
    OpenApiParameter("limit", int, description="Items per page, 1–100 (default 20); above 100 is a 422."),
]


def error_responses(*codes: int):
    """Declares the error answers a view or action gives besides the common ones that `document_errors` adds
    everywhere: 409 (a state that does not allow it), 502 (an upstream provider failed), 503 (not configured,
    upstream rate limit), 401/400 of the public auth endpoints. They are documented in the error format."""
    unknown = set(codes) - set(ERROR_DESCRIPTIONS)
    if unknown:
        raise ValueError(f"no description for error status {sorted(unknown)}")

    def decorate(target):
        target._error_responses = tuple(sorted(set(getattr(target, "_error_responses", ())) | set(codes)))
        return target

    return decorate


def _error_schema() -> dict:
    """The error format, with every code the API answers listed under `code` (`x-error-codes`, per app)."""
    codes = error_codes()
    code = {**ERROR_SCHEMA["properties"]["code"], "x-error-codes": codes,
            "description": "Stable machine code: " + ", ".join(sorted({c for group in codes.values() for c in group}))
                           + ". `x-error-codes` lists them per app."}
    return {**ERROR_SCHEMA, "properties": {**ERROR_SCHEMA["properties"], "code": code}}


def document_errors(result, generator, request, public):
    """Documents the error answers every operation can give, once, in the error format.

    Per operation, from its view: 401 where it authenticates, 403 and 404 where it needs a permission (roles,
    API-key scopes, plan gates, a suspended tenant; tenant-less principals and objects of other tenants are
    404), 429 where the rate limiter runs, 422 where it takes parameters or a body, 400/413/415 where it takes
    a body. Codes a view documents itself are kept; a documented error without a body gets the error schema.
    """
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_COMPONENT] = _error_schema()
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    _allow_blank_urls(components)
    views = _views_by_operation(generator)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            _document_stratum_pages(operation, responses)
            for code in sorted(_error_codes(path, method, operation, views.get((path, method)))):
                responses.setdefault(str(code), {"description": ERROR_DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400 and not response.get("content"):
                    response["content"] = {"application/json": {"schema": ref}}
                    response["description"] = response.get("description") or ERROR_DESCRIPTIONS.get(int(code), "")
    return result


def _allow_blank_urls(components: dict) -> None:
    """An unset URL (`URLField(blank=True)`: a client's logo, an invoice's PDF) is answered as "", which is no
    `uri`: in answers a URL property is a URI or the empty string. Request shapes keep the strict format."""
    for name, component in components.items():
        if name.endswith("Request"):
            continue
        for prop, schema in (component.get("properties") or {}).items():
            if schema.get("format") == "uri" and schema.get("type") == "string":
                extra = {k: v for k, v in schema.items() if k not in ("type", "format", "maxLength")}
                strict = {k: v for k, v in schema.items() if k in ("type", "format", "maxLength")}
                component["properties"][prop] = {"oneOf": [strict, {"type": "string", "maxLength": 0}], **extra}


def _document_stratum_pages(operation: dict, responses: dict) -> None:
    """Views that paginate by hand (StratumPagination outside a `list` action) declare `Item(many=True)`;
    what they answer is a Stratum page. Every operation taking `page` and `limit` pages its list."""
    names = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"}
    if not {"page", "limit"} <= names:
        return
    for code, response in responses.items():
        media = (response.get("content") or {}).get("application/json")
        if code.startswith("2") and media and media.get("schema", {}).get("type") == "array":
            media["schema"] = StratumPagination().get_paginated_response_schema(media["schema"])


def _views_by_operation(generator) -> dict:
    views = {}
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or []:
        view = generator.create_view(callback, method)
        views[(generator.coerce_path(path, method, view), method.lower())] = view
    return views


def _declared_errors(view, method: str) -> tuple[int, ...]:
    if view is None:
        return ()
    handler = getattr(view, getattr(view, "action", None) or method, None)
    return tuple(getattr(type(view), "_error_responses", ())) + tuple(getattr(handler, "_error_responses", ()))


def _error_codes(path: str, method: str, operation: dict, view) -> set[int]:
    from rest_framework.permissions import AllowAny

    if view is None:  # not one of ours: what its security section says
        authenticates = guarded = throttled = bool(operation.get("security"))
    else:
        authenticates = bool(view.authentication_classes)
        guarded = any(p is not AllowAny for p in view.permission_classes)
        throttled = bool(view.throttle_classes)
    codes: set[int] = set(_declared_errors(view, method))
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


class QueryFilterSetExtension(DjangoFilterExtension):
    """The query parameters of an operation whose handler reads a FilterSet (stratum.api.filters.query_filters),
    documented by drf-spectacular's django-filter introspection from the FilterSet's filters."""

    target_class = "stratum.api.filters.QueryFilterBackend"

    def get_schema_operation_parameters(self, auto_schema, *args, **kwargs):
        filterset_class = filterset_of(auto_schema.view, auto_schema.method)
        if filterset_class is None:
            return []
        model = filterset_class._meta.model
        return [parameter for name, field in filterset_class.base_filters.items()
                for parameter in self.resolve_filter_field(auto_schema, model, filterset_class, name, field)]
