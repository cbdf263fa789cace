"""Analytics and reporting: funnels, churn predictions, report templates, rendered reports, schedules.

Attribution, insights and what-if are computed on request from campaigns' daily metrics and CDP events; they
store nothing. Churn predictions are recomputed nightly (one row per purchasing profile). A report is one
rendering of a template for a date range; a schedule re-renders a report's definition for a rolling period and
e-mails it, with one `ReportDelivery` row per scheduled slot (the unique key makes a slot run exactly once).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models

from stratum.api.choices import Choices
from stratum.api.tenancy import TenantOwned


class ReportFormat(Choices):
    PDF = "pdf"
    CSV = "csv"
    XLSX = "xlsx"


class ReportStatus(Choices):
    PENDING = "pending"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"


class ScheduleFrequency(Choices):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Weekday(Choices):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


class DeliveryStatus(Choices):
    QUEUED = "queued"  # handed to the mail task; sent or failed when it is done
    SENT = "sent"
    HELD = "held"
    FAILED = "failed"


class ChurnRisk(Choices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class FitStatus(Choices):
    OK = "ok"
    INSUFFICIENT_DATA = "insufficient_data"
    FAILED = "failed"


class Funnel(TenantOwned):
    """Ordered steps of event types (each with optional property rules) and a conversion window."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    steps = models.JSONField(default=list)  # [{"name", "event_type", "where": [rule, ...]}]
    conversion_window_days = models.PositiveSmallIntegerField(default=7)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="analytics_funnel_unique_name")]

    def __str__(self) -> str:
        return self.name


class ChurnModelFit(TenantOwned):
    """The tenant's latest BG/NBD fit (one row per tenant, replaced by every refresh)."""

    status = models.CharField(max_length=20, choices=FitStatus.choices)
    message = models.CharField(max_length=500, blank=True)
    r = models.FloatField(null=True, blank=True)
    alpha = models.FloatField(null=True, blank=True)
    a = models.FloatField(null=True, blank=True)
    b = models.FloatField(null=True, blank=True)
    log_likelihood = models.FloatField(null=True, blank=True)
    customers = models.PositiveIntegerField(default=0)
    repeat_customers = models.PositiveIntegerField(default=0)
    horizon_days = models.PositiveSmallIntegerField(default=90)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="analytics_churn_fit_one")]


class ChurnPrediction(TenantOwned):
    """BG/NBD prediction for one purchasing profile (see analytics/churn/bgnbd.py for the formulas)."""

    profile = models.OneToOneField("cdp.Profile", on_delete=models.CASCADE, related_name="churn_prediction")
    probability_alive = models.FloatField()
    churn_probability = models.FloatField(db_index=True)
    expected_purchases = models.FloatField(null=True, blank=True,
                                           help_text="Expected purchases in the fit's horizon (null when a ≤ 1).")
    risk = models.CharField(max_length=8, choices=ChurnRisk.choices)
    repeat_purchases = models.PositiveIntegerField()
    recency_days = models.FloatField()
    age_days = models.FloatField()
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["tenant", "risk"], name="analytics_churn_risk"),
                   models.Index(fields=["tenant", "-churn_probability"], name="analytics_churn_prob")]


class ReportTemplate(TenantOwned):
    """A custom template: a standard template's kind with the sections, metrics and charts the tenant chose."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=32)
    sections = models.JSONField(default=list)
    metrics = models.JSONField(default=list)
    include_charts = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="analytics_template_unique_name")]

    def __str__(self) -> str:
        return self.name


class Report(TenantOwned):
    """One rendering of a template for a date range, stored as reports/<tenant>/<id>.<format> (default storage)."""

    name = models.CharField(max_length=200)
    template_key = models.CharField(max_length=64, help_text="Standard template key, or 'custom'.")
    custom_template = models.ForeignKey(ReportTemplate, on_delete=models.SET_NULL, null=True, blank=True,
                                        related_name="reports")
    kind = models.CharField(max_length=32)
    format = models.CharField(max_length=8, choices=ReportFormat.choices)
    start_date = models.DateField()
    end_date = models.DateField()
    filters = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ReportStatus.choices, default=ReportStatus.PENDING, db_index=True)
    file = models.CharField(max_length=500, blank=True, help_text="Name in the default storage.")
    size_bytes = models.PositiveIntegerField(null=True, blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    schedule = models.ForeignKey("ReportSchedule", on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="renderings")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="analytics_report_recent")]

    def __str__(self) -> str:
        return self.name


class ReportSchedule(TenantOwned):
    """Re-renders a report's definition for the period before each run and e-mails it (beat: PeriodicTask)."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="schedules")
    frequency = models.CharField(max_length=16, choices=ScheduleFrequency.choices)
    day_of_week = models.CharField(max_length=10, choices=Weekday.choices, blank=True)
    day_of_month = models.PositiveSmallIntegerField(null=True, blank=True)
    time = models.TimeField()
    timezone = models.CharField(max_length=64)
    recipients = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True,
                                         blank=True, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.report_id} {self.frequency} {self.time:%H:%M} {self.timezone}"


class ReportDelivery(TenantOwned):
    """What happened at one scheduled slot: queued (the mail task has it), sent, held (stale data / unhealthy
    signals) or failed."""

    schedule = models.ForeignKey(ReportSchedule, on_delete=models.CASCADE, related_name="deliveries")
    slot = models.DateTimeField(help_text="The scheduled local time this run stands for (stored in UTC).")
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices)
    rendering = models.ForeignKey(Report, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    recipients = models.JSONField(default=list)
    reasons = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "report deliveries"
        ordering = ["-slot"]
        constraints = [models.UniqueConstraint(fields=["schedule", "slot"], name="analytics_delivery_once")]


class DigestRun(TenantOwned):
    """The weekly digest of one tenant for one week: written once, so the job is safe to run twice."""

    week_start = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)
    recipients = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "webhooks_digestrun"  # the table it had under integrations.webhooks, where it began
        ordering = ["-week_start"]
        constraints = [models.UniqueConstraint(fields=["tenant", "week_start"], name="webhooks_digest_once_per_week")]

    def __str__(self) -> str:
        return f"digest {self.week_start}"
