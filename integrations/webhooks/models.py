"""Outbound delivery: webhook endpoints, their deliveries and every attempt; Slack destinations of
notifications.

A delivery is one domain event (an outbox row) for one endpoint. Its `body` is frozen when it is
queued, so every attempt — retries, redeliveries, a retry after a worker died — sends the same bytes
under the same `webhook-id`; only `webhook-timestamp` and the signature change per attempt.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from stratum.api.choices import Choices
from stratum.api.crypto import EncryptedTextField
from stratum.api.tenancy import TenantOwned


class Webhook(TenantOwned):
    """An endpoint the tenant registered; receives the events it subscribed to, signed with its secret."""

    class DisabledReason(Choices):
        MANUAL = "manual"
        GONE = "gone"
        FAILING = "failing"

    name = models.CharField(max_length=200)
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    secret_encrypted = EncryptedTextField(editable=False)
    secret_hint = models.CharField(max_length=16, editable=False, help_text="Start of the secret, to tell keys apart.")
    # During a rotation the old secret keeps signing (a second signature) until it expires.
    previous_secret_encrypted = EncryptedTextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=16, blank=True, choices=DisabledReason.choices)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Start of the current run of failed attempts; a success clears it. Three days of it disables the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "is_active"])]

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"


class WebhookDelivery(TenantOwned):
    """One event for one endpoint, retried on the schedule until it succeeds or gives up."""

    class Status(Choices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    outbox_event = models.ForeignKey("api.OutboxEvent", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    event_id = models.UUIDField(null=True, blank=True, help_text="The domain event's id (none for test pings).")
    event_type = models.CharField(max_length=64)
    message_id = models.CharField(max_length=64, help_text="The webhook-id header; the same on every attempt.")
    body = models.TextField(help_text="The exact JSON sent and signed.")
    is_test = models.BooleanField(default=False)
    status = models.CharField(max_length=16, default=Status.PENDING, choices=Status.choices)
    schedule_step = models.PositiveSmallIntegerField(default=0, help_text="Failed attempts in the current round.")
    attempt_count = models.PositiveIntegerField(default=0)
    interruptions = models.PositiveSmallIntegerField(default=0, help_text="Attempts cut off by a dying worker.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, help_text="Set while a worker holds the delivery.")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"]), models.Index(fields=["webhook", "-created_at"])]
        constraints = [models.UniqueConstraint(fields=["webhook", "outbox_event"], condition=Q(outbox_event__isnull=False),
                                               name="webhooks_delivery_once_per_event")]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.webhook_id} ({self.status})"


class WebhookAttempt(TenantOwned):
    """One HTTP request of a delivery: what the receiver answered and how long it took."""

    class Outcome(Choices):
        IN_PROGRESS = "in_progress"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, default=Outcome.IN_PROGRESS, choices=Outcome.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When the next try was scheduled, if any.")

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhooks_attempt_number_unique")]

    def __str__(self) -> str:
        return f"#{self.number} {self.outcome} ({self.status_code})"
