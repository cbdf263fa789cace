"""OAuth connections to ad platforms and CRMs, OAuth states, and CRM sync bookkeeping.

A tenant has at most one connection per provider. Tokens are stored encrypted (see crypto.py) and
read through `Connection.access_token` / `refresh_token`.
"""
from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models

from stratum.api.choices import Choices
from stratum.api.crypto import EncryptedTextField, secret_decrypt, secret_encrypt
from stratum.api.tenancy import TenantOwned


class AdProvider(Choices):
    META = "meta"
    GOOGLE = "google"
    TIKTOK = "tiktok"
    SNAPCHAT = "snapchat"


class CrmProvider(Choices):
    HUBSPOT = "hubspot"
    PIPEDRIVE = "pipedrive"
    SALESFORCE = "salesforce"
    ZOHO = "zoho"


AD_PROVIDERS = tuple(AdProvider.values)
CRM_PROVIDERS = tuple(CrmProvider.values)
PROVIDERS = AD_PROVIDERS + CRM_PROVIDERS


class Connection(TenantOwned):
    class Kind(Choices):
        AD = "ad"
        CRM = "crm"
    class Status(Choices):
        ACTIVE = "active"
        EXPIRED = "expired"
        ERROR = "error"

    provider = models.CharField(max_length=16, choices=[*AdProvider.choices, *CrmProvider.choices])
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=16, default=Status.ACTIVE, choices=Status.choices)
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

    provider = models.CharField(max_length=16, choices=[*AdProvider.choices, *CrmProvider.choices])
    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    nonce_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]


class CrmSyncRun(TenantOwned):
    class Direction(Choices):
        PULL = "pull"
        PUSH = "push"
        BIDIRECTIONAL = "bidirectional"
    class Status(Choices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial"
        FAILED = "failed"

    class Trigger(Choices):
        MANUAL = "manual"
        SCHEDULE = "schedule"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="crm_runs")
    provider = models.CharField(max_length=16, choices=CrmProvider.choices)
    direction = models.CharField(max_length=16, choices=Direction.choices)
    trigger = models.CharField(max_length=16, default=Trigger.MANUAL, choices=Trigger.choices)
    status = models.CharField(max_length=16, default=Status.QUEUED, choices=Status.choices, db_index=True)
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
        verbose_name = "CRM sync run"
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
