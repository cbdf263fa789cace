import uuid

from django.db import models

from .choices import Choices
from .tenancy import TenantOwned


class OutboxEvent(TenantOwned):
    """A domain event written in the same transaction as the change it describes.

    The webhook/notification dispatcher reads pending rows and marks them dispatched only after
    every subscriber has its delivery recorded, so a worker dying mid-way loses nothing.
    """

    class Status(Choices):
        PENDING = "pending"
        DISPATCHED = "dispatched"

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(max_length=64, db_index=True)
    data = models.JSONField(default=dict)
    status = models.CharField(max_length=16, default=Status.PENDING, choices=Status.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} ({self.status})"


class Heartbeat(models.Model):
    """The last sign of life of a singleton process (`beat`): written by it, read by /health, metrics and
    `manage.py health` on any host (stratum/api/heartbeat.py)."""

    name = models.CharField(max_length=64, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at.isoformat()}"
