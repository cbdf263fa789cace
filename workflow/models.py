"""Catalyst workflow: clients and client roles, tasks and comments, alerts and their instances, lead scoring,
creative submissions.

Every row belongs to a tenant (TenantOwned) and, mostly, to one of the tenant's clients. Tasks and creative
submissions may also be client-less (an agency's internal work): tenant owners/admins, their creator and
their assignees see those.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from stratum.api.choices import Choices
from stratum.api.tenancy import TenantOwned


class ClientRole(Choices):
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class TaskType(Choices):
    REVIEW_CREATIVE = "review_creative"
    REVIEW_REPORT = "review_report"
    OTHER = "other"


class TaskStatus(Choices):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TaskPriority(Choices):
    BACKLOG = "Backlog"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


class RelatedObjectType(Choices):
    CREATIVE_SUBMISSION = "creative_submission"
    ALERT_INSTANCE = "alert_instance"
    CAMPAIGN = "campaign"
    REPORT = "report"


class DataLevel(Choices):
    AD = "ad"
    CAMPAIGN = "campaign"
    ACCOUNT = "account"


class InstanceStatus(Choices):
    TRIGGERED = "triggered"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class LeadOutcome(Choices):
    CONVERTED = "converted"
    NOT_CONVERTED = "not_converted"


class LeadOutcomeSource(Choices):
    CDP = "cdp"
    CRM = "crm"
    API = "api"


class ScoringMethod(Choices):
    FORMULA = "formula"
    LOGISTIC_REGRESSION = "logistic_regression"


class CreativeStatus(Choices):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class AdType(Choices):
    IMAGE = "image"
    VIDEO = "video"
    CAROUSEL = "carousel"
    TEXT = "text"


TASK_OPEN_STATUSES = (TaskStatus.PENDING, TaskStatus.IN_PROGRESS)





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
    role = models.CharField(max_length=10, choices=ClientRole.choices, default=ClientRole.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "user"], name="workflow_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} on {self.client} ({self.role})"


class Task(TenantOwned):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, null=True, blank=True, related_name="tasks")
    name = models.CharField(max_length=255)
    task_type = models.CharField(max_length=32, choices=TaskType.choices, default=TaskType.OTHER)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    priority = models.CharField(max_length=10, choices=TaskPriority.choices, default=TaskPriority.MEDIUM)
    description = models.TextField(blank=True)
    due_date = models.DateTimeField(null=True, blank=True)
    assignees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="workflow_tasks")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    related_object_type = models.CharField(max_length=32, choices=RelatedObjectType.choices, null=True,
                                           blank=True)
    related_object_id = models.UUIDField(null=True, blank=True)
    completed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "client", "status"]),
            models.Index(fields=["tenant", "-created_at"]),
            models.Index(fields=["related_object_type", "related_object_id"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status in TASK_OPEN_STATUSES


class TaskComment(TenantOwned):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="comments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    comment = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["task", "created_at"])]


class Alert(TenantOwned):
    """An alert definition of one client; its schedule is a django-celery-beat PeriodicTask."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="alerts")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    alert_type = models.CharField(max_length=32)
    data_source = models.CharField(max_length=64)
    data_level = models.CharField(max_length=16, choices=DataLevel.choices)
    condition_config = models.JSONField(default=dict)
    action_config = models.JSONField(default=dict)
    frequency = models.JSONField(default=dict)
    is_enabled = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True,
                                         blank=True, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    last_run_at = models.DateTimeField(null=True, blank=True)
    # The schedule slot (local date, or date+hour for hourly alerts) the last scheduled run served.
    last_scheduled_slot = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["client", "alert_type"], condition=Q(is_default=True),
                                               name="workflow_alert_one_default_per_type")]

    def __str__(self) -> str:
        return self.name


class AlertInstance(TenantOwned):
    """One finding of an alert for one object (ad, campaign or ad account).

    At most one open (triggered) instance per alert and object, and one instance per alert, object and local
    day: a repeat finding updates the open instance instead of opening another.
    """

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="instances")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="alert_instances")
    object_type = models.CharField(max_length=16, choices=DataLevel.choices)
    object_id = models.CharField(max_length=64)
    triggered_on = models.DateField(help_text="Local day (alert time zone) of the first finding.")
    triggered_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    occurrences = models.PositiveIntegerField(default=1)
    alert_data = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=InstanceStatus.choices, default=InstanceStatus.TRIGGERED)
    task = models.ForeignKey(Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    resolution_notes = models.TextField(blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True, help_text="The last run that looked at it.")
    runs_without_data = models.PositiveIntegerField(
        default=0, help_text="Runs in a row that found no data for its object (ALERT_NO_DATA_RUNS resolves it).")

    class Meta:
        ordering = ["-triggered_at"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "object_id", "triggered_on"], name="workflow_instance_one_per_day"),
            models.UniqueConstraint(fields=["alert", "object_id"], condition=Q(status="triggered"),
                                    name="workflow_instance_one_open"),
        ]
        indexes = [models.Index(fields=["tenant", "client", "status", "-triggered_at"])]


class Lead(TenantOwned):
    """A scored lead of one client, one row per e-mail address (re-scoring updates it)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="leads")
    email = models.EmailField(max_length=254)
    score = models.FloatField()
    value = models.JSONField(default=dict)
    raw_data = models.JSONField(default=dict)
    source = models.CharField(max_length=64, default="website")
    scored_with = models.CharField(max_length=24, choices=ScoringMethod.choices, default=ScoringMethod.FORMULA)
    cdp_profile_id = models.UUIDField(null=True, blank=True)
    cdp_events = models.PositiveIntegerField(default=0, help_text="Events of the linked CDP profile.")
    outcome = models.CharField(max_length=16, choices=LeadOutcome.choices, null=True, blank=True)
    outcome_source = models.CharField(max_length=8, choices=LeadOutcomeSource.choices, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-score", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["client", "email"], name="workflow_lead_unique_email")]
        indexes = [models.Index(fields=["tenant", "client", "-score"])]


class LeadScoringModel(TenantOwned):
    """A client's scoring configuration: formula weights, and the fitted logistic regression once there is one."""

    client = models.OneToOneField(Client, on_delete=models.CASCADE, related_name="lead_scoring")
    weights = models.JSONField(default=dict)
    method = models.CharField(max_length=24, choices=ScoringMethod.choices, default=ScoringMethod.FORMULA)
    # {"features": [...], "mean": [...], "scale": [...], "coef": [...], "intercept": float}
    coefficients = models.JSONField(default=dict, blank=True)
    auc = models.FloatField(null=True, blank=True)
    training_samples = models.PositiveIntegerField(default=0)
    positive_samples = models.PositiveIntegerField(default=0)
    trained_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


def creative_upload_path(instance: CreativeSubmission, filename: str) -> str:
    return f"creatives/{instance.tenant_id}/{instance.pk}/{filename}"


class CreativeSubmission(TenantOwned):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, null=True, blank=True,
                               related_name="creative_submissions")
    name = models.CharField(max_length=200)
    ad_type = models.CharField(max_length=16, choices=AdType.choices)
    media_url = models.URLField(max_length=2000, blank=True)
    media_file = models.FileField(upload_to=creative_upload_path, max_length=300, blank=True)
    media_filename = models.CharField(max_length=255, blank=True)
    media_size = models.BigIntegerField(null=True, blank=True)
    media_content_type = models.CharField(max_length=100, blank=True)
    media_width = models.PositiveIntegerField(null=True, blank=True)
    media_height = models.PositiveIntegerField(null=True, blank=True)
    media_thumbnail = models.FileField(upload_to=creative_upload_path, max_length=300, blank=True)
    # A creative given by URL: "pending" until a worker fetched it, then "fetched" or "failed" (media_error says why).
    media_fetch_status = models.CharField(max_length=16, blank=True)
    media_error = models.CharField(max_length=300, blank=True)
    ad_script = models.TextField(blank=True)
    headline = models.CharField(max_length=255, blank=True)
    primary_text = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=CreativeStatus.choices, default=CreativeStatus.PENDING)
    rejection_reason = models.TextField(blank=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    task = models.ForeignKey(Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "client", "status"])]

    def __str__(self) -> str:
        return self.name
