"""Staff console: the audit log and snapshots are read-only records; settings, rules and breakers can be looked at
and searched (changes to automation go through the API, where they are audited)."""
from django.contrib import admin

from stratum.api.admin_base import ReadOnlyAdmin

from .models import (
    AuditLogEntry,
    AutopilotAction,
    AutopilotSettings,
    CircuitBreaker,
    Rule,
    RuleExecution,
    RuleFiring,
    SignalHealthSnapshot,
)


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "tenant", "event", "decision", "action", "actor_type", "actor_name", "target")
    list_filter = ("event", "decision", "actor_type")
    search_fields = ("action", "actor_name", "target", "reason")
    date_hierarchy = "created_at"

    def get_actions(self, request):
        return {}  # not even the bulk "delete selected"


@admin.register(SignalHealthSnapshot)
class SignalHealthSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("computed_at", "tenant", "ad_account", "overall_score", "status", "trigger")
    list_filter = ("status", "trigger")
    search_fields = ("ad_account__name",)
    raw_id_fields = ("ad_account",)


@admin.register(AutopilotAction)
class AutopilotActionAdmin(ReadOnlyAdmin):
    list_display = ("proposed_at", "tenant", "kind", "status", "source", "campaign", "money_impact")
    list_filter = ("status", "kind", "source")
    search_fields = ("campaign__name", "reason")
    raw_id_fields = ("campaign", "ad_account", "rule", "rollback_of", "decided_by")


@admin.register(AutopilotSettings)
class AutopilotSettingsAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "enabled", "mode", "max_budget_change_percent", "require_approval_above",
                    "pause_on_degraded_signal", "last_run_at")
    list_filter = ("enabled", "mode")
    search_fields = ("mode",)


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ReadOnlyAdmin):
    list_display = ("tripped_at", "tenant", "ad_account", "state", "reason", "trip_count", "resumed_at")
    list_filter = ("state", "reason")
    search_fields = ("ad_account__name",)
    raw_id_fields = ("ad_account", "resumed_by")


@admin.register(Rule)
class RuleAdmin(ReadOnlyAdmin):
    list_display = ("name", "tenant", "enabled", "frequency", "lookback", "last_run_at")
    list_filter = ("enabled", "frequency")
    search_fields = ("name", "description")


@admin.register(RuleExecution)
class RuleExecutionAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "tenant", "rule", "trigger", "status", "matched", "fired")
    list_filter = ("status", "trigger")
    search_fields = ("rule__name",)
    raw_id_fields = ("rule",)


@admin.register(RuleFiring)
class RuleFiringAdmin(ReadOnlyAdmin):
    list_display = ("fired_at", "tenant", "rule", "campaign")
    search_fields = ("rule__name", "campaign__name")
    list_filter = ("rule__frequency",)
    raw_id_fields = ("rule", "execution", "campaign")
