"""Who may call what: tenant roles for users, scopes for API keys.

An API key acts for its tenant with the rights of the user who created it, further limited to its
scopes. A view declares `scope_resource = "campaigns"` (read:campaigns for safe methods,
write:campaigns otherwise) or `required_scopes = {"GET": [...], ...}`; a view that declares
neither, and a method that `required_scopes` does not name, is closed to API keys (fail-closed).
"""
from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .choices import Choices
from .entitlements import feature_require
from .errors import EMAIL_NOT_VERIFIED
from .exceptions import Forbidden
from .principals import is_api_key_request


class Role(Choices):
    """A user's role in their tenant."""

    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    ANALYST = "analyst"
    VIEWER = "viewer"


ROLES = tuple(Role.values)
ADMIN_ROLES = (Role.OWNER, Role.ADMIN)
WRITE_ROLES = (Role.OWNER, Role.ADMIN, Role.MANAGER)

SCOPE_RESOURCES = (
    "campaigns", "analytics", "cdp", "trust", "workflow", "webhooks", "billing",
    "integrations", "reporting", "notifications", "users", "privacy",
)
SCOPES = tuple(f"{kind}:{resource}" for resource in SCOPE_RESOURCES for kind in ("read", "write"))


def required_scopes_for(view, method: str) -> list[str] | None:
    explicit = getattr(view, "required_scopes", None)
    if explicit is not None:
        # A method the mapping does not name is closed to keys (fail-closed), never open to every key.
        scopes = explicit.get(method, explicit.get("*", explicit.get("GET") if method == "HEAD" else None))
        return None if scopes is None else list(scopes)
    resource = getattr(view, "scope_resource", None)
    if resource is None:
        return None
    return [f"{'read' if method in SAFE_METHODS else 'write'}:{resource}"]


def scopes_granted(permissions: list[str]) -> set[str]:
    """What a key's permissions allow: `write:X` includes `read:X` (a key that may change webhooks may list them)."""
    granted = set(permissions)
    granted |= {f"read:{scope.split(':', 1)[1]}" for scope in permissions if scope.startswith("write:")}
    return granted


class ApiKeyScopePermission(BasePermission):
    message = "This API key's scopes do not allow this request."

    def has_permission(self, request, view) -> bool:
        if not is_api_key_request(request):
            return True
        needed = required_scopes_for(view, request.method)
        if needed is None:
            self.message = "This endpoint is not available to API keys."
            return False
        granted = scopes_granted(request.auth.permissions or [])
        missing = [scope for scope in needed if scope not in granted]
        if missing:
            self.message = f"This API key lacks the scope {', '.join(missing)}."
            return False
        return True


class TenantRolePermission(BasePermission):
    """Safe methods: any member. Writes: the roles in the view's `write_roles` (default owner/admin/manager)."""

    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not getattr(user, "is_authenticated", False) or getattr(request, "tenant", None) is None:
            return False
        read_roles = getattr(view, "read_roles", None)
        if request.method in SAFE_METHODS:
            return read_roles is None or user.role in read_roles
        return user.role in getattr(view, "write_roles", WRITE_ROLES)


class FeatureGatePermission(BasePermission):
    """A view with `required_feature = "autopilot"` answers 403 FEATURE_NOT_AVAILABLE when the tenant's plan
    (with its overrides) lacks the feature. Part of every tenant view base."""

    def has_permission(self, request, view) -> bool:
        feature = getattr(view, "required_feature", None)
        tenant = getattr(request, "tenant", None)
        if feature and tenant is not None:
            feature_require(tenant=tenant, feature=feature)
        return True




class VerifiedEmailPermission(BasePermission):
    """Actions that reach outside the tenant (API keys, invitations, integrations, webhooks, billing) need a verified
    e-mail address: 403 EMAIL_NOT_VERIFIED. A view lists them as `verified_email_methods = ("POST", ...)`. Part of
    every tenant view base; an API key acts for its creator, who was verified to create it."""

    def has_permission(self, request, view) -> bool:
        if request.method not in getattr(view, "verified_email_methods", ()):
            return True
        if getattr(request.user, "is_verified", True):
            return True
        raise Forbidden("Verify your e-mail address first: this action reaches outside your workspace. "
                        "POST /api/v1/auth/resend-verification sends a new link.", EMAIL_NOT_VERIFIED)


class IsTenantAdmin(BasePermission):
    message = "Only tenant owners and admins may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(getattr(user, "is_authenticated", False) and getattr(user, "role", None) in ADMIN_ROLES
                    and getattr(request, "tenant", None) is not None)


class IsSuperAdmin(BasePermission):
    message = "Only platform staff (superadmin) may do this."

    def has_permission(self, request, view) -> bool:
        return bool(getattr(request.user, "is_authenticated", False) and request.user.is_superuser
                    and not is_api_key_request(request))
