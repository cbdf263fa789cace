"""OAuth connections to ad platforms and CRMs, OAuth states, and CRM sync bookkeeping.

A tenant has at most one connection per provider. Tokens are stored encrypted (see crypto.py) and
read through `Connection.access_token` / `refresh_token`.
"""
from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models

from stratum.api.crypto import EncryptedTextField, secret_decrypt, secret_encrypt
from stratum.api.tenancy import TenantOwned

AD_PROVIDERS = ("meta", "google", "tiktok", "snapchat")
CRM_PROVIDERS = ("hubspot", "pipedrive", "salesforce", "zoho")
PROVIDERS = AD_PROVIDERS + CRM_PROVIDERS


def _choices(values):
    return [(v, v) for v in values]


class Connection(TenantOwned):
    KIND_AD, KIND_CRM = "ad", "crm"
    STATUS_ACTIVE, STATUS_EXPIRED, STATUS_ERROR = "active", "expired", "error"

    provider = models.CharField(max_length=16, choices=_choices(PROVIDERS))
    kind = models.CharField(max_length=8, choices=_choices((KIND_AD, KIND_CRM)))
    status = models.CharField(max_length=16, default=STATUS_ACTIVE,
                              choices=_choices((STATUS_ACTIVE, STATUS_EXPIRED, STATUS_ERROR)))
    access_token_encrypted = EncryptedTextField(blank=True)
    refresh_token_encrypted = EncryptedTextField(blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=list, blank=True, help_text="Scopes the user granted.")
    external_account_id = models.CharField(max_length=128, blank=True)
    external_account_name = models.CharField(max_length=255, blank=True)
    # Provider facts needed to call the API: instance_url (Salesforce), api_domain (Pipedrive, Zoho), ...
    metadata = models.JSONField(default=dict, blank=True)
    # User choices: CRM field mapping, segment field, schedule.
    settings = models.JSONField(default=dict, blank=True)
    connected_by = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    connected_at = models.DateTimeField(auto_now_add=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider"]
        constraints = [models.UniqueConstraint(fields=["tenant", "provider"], name="integrations_one_connection_per_provider")]

    def __str__(self) -> str:
        return f"{self.provider} ({self.status})"

    @property
    def access_token(self) -> str:
        return secret_decrypt(self.access_token_encrypted)

    @access_token.setter
    def access_token(self, value: str) -> None:
        self.access_token_encrypted = secret_encrypt(value or "")

    @property
    def refresh_token(self) -> str:
        return secret_decrypt(self.refresh_token_encrypted)

    @refresh_token.setter
    def refresh_token(self, value: str) -> None:
        self.refresh_token_encrypted = secret_encrypt(value or "")


class OAuthState(TenantOwned):
    """One authorization attempt. The signed `state` names it; the callback consumes it once."""

    provider = models.CharField(max_length=16, choices=_choices(PROVIDERS))
    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    nonce_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]


class CrmSyncRun(TenantOwned):
    DIRECTIONS = ("pull", "push", "bidirectional")
    STATUS_QUEUED, STATUS_RUNNING, STATUS_SUCCEEDED, STATUS_PARTIAL, STATUS_FAILED = (
        "queued", "running", "succeeded", "partial", "failed")
    STATUSES = (STATUS_QUEUED, STATUS_RUNNING, STATUS_SUCCEEDED, STATUS_PARTIAL, STATUS_FAILED)

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="crm_runs")
    provider = models.CharField(max_length=16, choices=_choices(CRM_PROVIDERS))
    direction = models.CharField(max_length=16, choices=_choices(DIRECTIONS))
    trigger = models.CharField(max_length=16, default="manual", choices=_choices(("manual", "schedule")))
    status = models.CharField(max_length=16, default=STATUS_QUEUED, choices=_choices(STATUSES), db_index=True)
    requested_by = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Bumped while a worker works on the run: a `running` run whose heartbeat stopped lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pulled = models.PositiveIntegerField(default=0)
    profiles_created = models.PositiveIntegerField(default=0)
    profiles_updated = models.PositiveIntegerField(default=0)
    pushed = models.PositiveIntegerField(default=0)
    conflicts = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # Pull cursor reached by this run (the remote last-modified time of the newest contact seen).
    cursor = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["tenant", "provider", "queued_at"])]


class CrmContactLink(TenantOwned):
    """A CRM contact and the CDP profile it feeds, with the last agreed value of each synced field.

    `fields` is `{field: {"v": value, "crm_at": iso, "cdp_at": iso}}`: the value both sides had after the
    last sync and when each side last changed it — the basis of per-field last-modified-wins.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="contact_links")
    external_id = models.CharField(max_length=64)
    profile_id = models.UUIDField(db_index=True)
    fields = models.JSONField(default=dict, blank=True)
    remote_modified_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "external_id"],
                                               name="integrations_crm_link_unique_contact")]
