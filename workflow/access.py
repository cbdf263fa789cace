"""Client roles: who may do what on a client's work.

Tenant owners/admins act as admin on every client. Everyone else needs a ClientMembership: viewers read,
members create and update tasks, comment and work alert instances, client admins also manage the client,
its members and alerts, and decide on creatives. A client the user cannot see is a 404 (like another
tenant's row), a visible client with too low a role is a 403.
"""
from __future__ import annotations

from stratum.api.exceptions import Forbidden
from stratum.api.permissions import ADMIN_ROLES

from .models import ClientRole

ROLE_RANK = {ClientRole.VIEWER: 1, ClientRole.MEMBER: 2, ClientRole.ADMIN: 3}

# Tenant roles that may create clients and client-less work.
CLIENT_CREATOR_ROLES = ("owner", "admin", "manager")


def is_tenant_admin(user) -> bool:
    return getattr(user, "role", None) in ADMIN_ROLES


def role_at_least(role: str | None, minimum: str) -> bool:
    return ROLE_RANK.get(role or "", 0) >= ROLE_RANK[minimum]


def role_require(role: str | None, minimum: str, *, action: str) -> None:
    """403 unless `role` (the user's role on the client) reaches `minimum`."""
    if not role_at_least(role, minimum):
        raise Forbidden(f"Your role on this client ({role or 'none'}) does not allow you to {action}; "
                        f"it needs {minimum}.")
