"""OpenAPI generation hooks and authentication extensions (drf-spectacular)."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
