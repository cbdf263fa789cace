"""The trail of staff actions: who did what to which tenant from the console, when, with the state before and after.

Platform-level (not tenant-owned: staff act across tenants) and append-only. The tenant is kept by id and name as
well as by reference, so the trail outlives a deleted tenant."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class StaffActionKind(models.TextChoices):
    SUSPEND = "suspend", "Suspended the tenant"
    REACTIVATE = "reactivate", "Reactivated the tenant"
    PLAN_CHANGE = "plan_change", "Changed the plan"
    LIMITS_RAISE = "limits_raise", "Raised a limit"
    TENANT_EDIT = "tenant_edit", "Edited the tenant"
    INVITATION_RESEND = "invitation_resend", "Resent an invitation"
    API_KEYS_REVOKE = "api_keys_revoke", "Revoked all API keys"
    SYNC_RERUN = "sync_rerun", "Re-ran a failed sync"
    DELIVERIES_REDELIVER = "deliveries_redeliver", "Redelivered failed webhook deliveries"


class StaffAction(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    staff_email = models.CharField(max_length=254, help_text="Who acted, as they were named then.")
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+")
    tenant_name = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=32, choices=StaffActionKind.choices)
    target = models.CharField(max_length=255, blank=True, help_text="What was acted on, named as it was then.")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "staff action"
        indexes = [models.Index(fields=["tenant", "-created_at"], name="console_staff_tenant_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.staff_email} {self.action} {self.tenant_name}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The staff action trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The staff action trail is append-only.")
