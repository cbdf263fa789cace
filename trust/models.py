"""The trust engine's records: signal-health snapshots, the gate's append-only audit log, autopilot settings
and actions, circuit breakers, automation rules with their executions.

The audit log cannot be changed once written: its queryset refuses update() and delete(), a saved entry refuses
save() and delete(), the staff console shows it read-only, the API only reads it, and the database itself
refuses UPDATE (PostgreSQL and SQLite) and DELETE (PostgreSQL, except while the whole tenant is deleted) —
see migrations/0002_audit_log_guard.py.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from stratum.api.choices import Choices
from stratum.api.tenancy import TenantManager, TenantOwned


class SignalStatus(Choices):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    NO_DATA = "no_data"


class SnapshotTrigger(Choices):
    SCHEDULE = "schedule"
    SYNC = "sync"
    MANUAL = "manual"
    ON_DEMAND = "on_demand"
    SEED = "seed"
    AUTOPILOT = "autopilot"


class AuditEvent(Choices):
    GATE = "gate"
    APPROVAL = "approval"
    EXECUTION = "execution"
    BREAKER = "breaker"
    SETTINGS = "settings"
    EXPIRY = "expiry"
    PRIVACY = "privacy"


class AuditDecision(Choices):
    ALLOWED = "allowed"
    HELD = "held"
    BLOCKED = "blocked"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    TRIPPED = "tripped"
    RESUMED = "resumed"
    UPDATED = "updated"
    EXPIRED = "expired"
    REQUESTED = "requested"
    COMPLETED = "completed"


class ActorType(Choices):
    AUTOPILOT = "autopilot"
    RULE = "rule"
    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"


class AutopilotMode(Choices):
    CONSERVATIVE = "conservative"
    BALANCED = "balanced"
    AGGRESSIVE = "aggressive"


class MoneyAction(Choices):
    PAUSE_CAMPAIGN = "pause_campaign"
    ACTIVATE_CAMPAIGN = "activate_campaign"
    INCREASE_BUDGET = "increase_budget"
    DECREASE_BUDGET = "decrease_budget"
    SET_BUDGET = "set_budget"


class ActionStatus(Choices):
    PENDING = "pending"
    EXECUTED = "executed"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    FAILED = "failed"
    EXPIRED = "expired"
    ROLLED_BACK = "rolled_back"


class ActionSource(Choices):
    AUTOPILOT = "autopilot"
    RULE = "rule"
    ROLLBACK = "rollback"


class BreakerState(Choices):
    OPEN = "open"
    CLOSED = "closed"


class BreakerReason(Choices):
    SPEND_SPIKE = "spend_spike"
    CONNECTOR_ERRORS = "connector_errors"


class RunTrigger(Choices):
    SCHEDULE = "schedule"
    MANUAL = "manual"


class RunStatus(Choices):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


COMPONENTS = ("pixel_coverage", "conversion_accuracy", "data_freshness", "api_health")

# The gate and the audit log
GATE_DECISIONS = (AuditDecision.ALLOWED, AuditDecision.HELD, AuditDecision.BLOCKED)

# Rules


class RuleFrequency(Choices):
    EVERY_15_MINUTES = "every_15_minutes"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"


# Minutes between two runs of a rule
RULE_FREQUENCIES = {RuleFrequency.EVERY_15_MINUTES: 15, RuleFrequency.HOURLY: 60, RuleFrequency.DAILY: 1440,
                    RuleFrequency.WEEKLY: 10080}


class SignalHealthSnapshot(TenantOwned):
    """One computed signal health: of one ad account, or of the tenant as a whole (`ad_account` null).

    Every refresh writes one row per active ad account and one tenant row, sharing `run_id`."""

    run_id = models.UUIDField(db_index=True)
    ad_account = models.ForeignKey("campaigns.AdAccount", on_delete=models.CASCADE, null=True, blank=True,
                                   related_name="+")
    computed_at = models.DateTimeField()
    trigger = models.CharField(max_length=16, choices=SnapshotTrigger.choices)
    overall_score = models.SmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=SignalStatus.choices)
    signals = models.JSONField(default=list, help_text="[{name, score, status, weight, details}] per component.")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-computed_at"]
        indexes = [models.Index(fields=["tenant", "ad_account", "-computed_at"], name="trust_snap_account_time"),
                   models.Index(fields=["tenant", "-computed_at"], name="trust_snap_time")]

    def __str__(self) -> str:
        return f"{self.ad_account_id or 'tenant'} {self.computed_at:%Y-%m-%d %H:%M} {self.status}"


class AuditLogQuerySet(models.QuerySet):
    """Entries are written once and never changed or removed through the ORM."""

    def update(self, **kwargs):
        raise PermissionError("The trust audit log is append-only.")

    def delete(self):
        raise PermissionError("The trust audit log is append-only.")


class AuditLogManager(TenantManager.from_queryset(AuditLogQuerySet)):
    pass


class AuditLogEntry(TenantOwned):
    """One decision: the gate's (allowed/held/blocked), a human's (approved/rejected), an execution's result,
    a circuit breaker or a settings change — who or what asked, about what, why, and the signal at that moment.

    Objects are referenced by id (no foreign keys) so that nothing cascades into the log."""

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    event = models.CharField(max_length=16, choices=AuditEvent.choices)
    decision = models.CharField(max_length=16, choices=AuditDecision.choices)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=64)
    action_id = models.UUIDField(null=True, blank=True, help_text="The autopilot action concerned, if any.")
    rule_id = models.UUIDField(null=True, blank=True)
    ad_account_id = models.UUIDField(null=True, blank=True)
    campaign_id = models.UUIDField(null=True, blank=True)
    target = models.CharField(max_length=255, blank=True, help_text="What was acted on, named as it was then.")
    reason = models.TextField(blank=True)
    signal = models.JSONField(default=dict, blank=True, help_text="The signal health the decision was made on.")
    details = models.JSONField(default=dict, blank=True)

    objects = AuditLogManager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "audit log entries"
        indexes = [models.Index(fields=["tenant", "-created_at"], name="trust_audit_time"),
                   models.Index(fields=["tenant", "event", "created_at"], name="trust_audit_event_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.decision}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The trust audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The trust audit log is append-only.")


class AutopilotSettings(TenantOwned):
    enabled = models.BooleanField(default=False)
    mode = models.CharField(max_length=16, choices=AutopilotMode.choices, default=AutopilotMode.CONSERVATIVE)
    max_budget_change_percent = models.PositiveSmallIntegerField(default=20)
    require_approval_above = models.DecimalField(max_digits=14, decimal_places=2, default=500)
    pause_on_degraded_signal = models.BooleanField(default=True)
    target_roas = models.DecimalField(max_digits=8, decimal_places=2, default=2)
    last_run_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        verbose_name_plural = "autopilot settings"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="trust_autopilot_settings_one")]

    def __str__(self) -> str:
        return f"autopilot {'on' if self.enabled else 'off'} ({self.mode})"


class Rule(TenantOwned):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    conditions = models.JSONField(help_text="A normalized condition tree: {operator: and|or, conditions: [...]}")
    actions = models.JSONField(default=list)
    scope = models.JSONField(default=dict)
    frequency = models.CharField(max_length=20, choices=RuleFrequency.choices, default=RuleFrequency.HOURLY)
    lookback = models.CharField(max_length=16, default="last_7d")
    cooldown_minutes = models.PositiveIntegerField(default=1440)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["enabled", "last_run_at"], name="trust_rule_due")]

    def __str__(self) -> str:
        return self.name


class AutopilotAction(TenantOwned):
    """A change to one campaign proposed by the autopilot or a rule (or a rollback of one): pending until
    approved when the gate held it or its money impact is above the approval threshold."""

    source = models.CharField(max_length=16, choices=ActionSource.choices)
    rule = models.ForeignKey(Rule, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions_taken")
    kind = models.CharField(max_length=20, choices=MoneyAction.choices)
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.PENDING)
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    ad_account = models.ForeignKey("campaigns.AdAccount", on_delete=models.CASCADE, related_name="+")
    before = models.JSONField(default=dict, help_text="{status, budget_amount} when proposed (executed: before it).")
    after = models.JSONField(default=dict, help_text="{status, budget_amount} the action sets.")
    money_impact = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    reason = models.TextField(blank=True, help_text="Why it was proposed.")
    evidence = models.JSONField(default=dict, blank=True, help_text="The figures it was proposed on.")
    hold_reason = models.TextField(blank=True, help_text="Why it waits for approval, or why it was blocked.")
    signal = models.JSONField(default=dict, blank=True)
    group_id = models.UUIDField(null=True, blank=True, help_text="Both sides of one budget move.")
    rollback_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="rollbacks")
    proposed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    decision_note = models.TextField(blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-proposed_at"]
        indexes = [models.Index(fields=["tenant", "status", "-proposed_at"], name="trust_action_status"),
                   models.Index(fields=["campaign", "status"], name="trust_action_campaign")]

    def __str__(self) -> str:
        return f"{self.kind} {self.campaign_id} ({self.status})"


class CircuitBreaker(TenantOwned):
    """Stops automation on one ad account (spend spike, run of connector errors) until a human resumes it."""

    ad_account = models.ForeignKey("campaigns.AdAccount", on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=8, choices=BreakerState.choices, default=BreakerState.OPEN)
    reason = models.CharField(max_length=20, choices=BreakerReason.choices)
    details = models.JSONField(default=dict, blank=True)
    tripped_at = models.DateTimeField()
    trip_count = models.PositiveIntegerField(default=1)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering = ["-tripped_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "ad_account"], name="trust_breaker_one_per_account")]

    def __str__(self) -> str:
        return f"{self.ad_account_id} {self.state} ({self.reason})"


class RuleExecution(TenantOwned):
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="executions")
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    evaluated = models.PositiveIntegerField(default=0, help_text="Campaigns in the rule's scope.")
    matched = models.PositiveIntegerField(default=0, help_text="Campaigns meeting the conditions.")
    in_cooldown = models.PositiveIntegerField(default=0, help_text="Matches skipped: fired within the cooldown.")
    fired = models.PositiveIntegerField(default=0)
    outcomes = models.JSONField(default=dict, blank=True, help_text="Count of each action outcome.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["rule", "-started_at"], name="trust_rule_exec_time")]


class RuleFiring(TenantOwned):
    """A rule matched a campaign and acted on it: the figures it saw and what each action did."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="firings")
    execution = models.ForeignKey(RuleExecution, on_delete=models.CASCADE, related_name="firings")
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    fired_at = models.DateTimeField()
    metrics = models.JSONField(default=dict)
    outcomes = models.JSONField(default=list)

    class Meta:
        ordering = ["-fired_at"]
        indexes = [models.Index(fields=["rule", "campaign", "-fired_at"], name="trust_firing_cooldown")]
