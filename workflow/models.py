from django.conf import settings
from django.db import models

from stratum.api.tenancy import TenantOwned

CLIENT_ROLE_ADMIN, CLIENT_ROLE_MEMBER, CLIENT_ROLE_VIEWER = "admin", "member", "viewer"
CLIENT_ROLES = (CLIENT_ROLE_ADMIN, CLIENT_ROLE_MEMBER, CLIENT_ROLE_VIEWER)


class Client(TenantOwned):
    """A brand an agency tenant manages (Catalyst). Ad accounts, tasks and alerts may belong to one."""

    name = models.CharField(max_length=200)
    logo = models.URLField(max_length=500, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="workflow_client_unique_name")]

    def __str__(self) -> str:
        return self.name


class ClientMembership(TenantOwned):
    """A user's role on one client. Tenant owners/admins act as client admins without a membership."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="client_memberships")
    role = models.CharField(max_length=10, choices=[(r, r) for r in CLIENT_ROLES], default=CLIENT_ROLE_MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "user"], name="workflow_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} on {self.client} ({self.role})"
