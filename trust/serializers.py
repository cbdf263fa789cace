"""Request bodies (StrictSerializer: unknown fields are a 422) and response shapes of the trust endpoints."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from stratum.api.serializers import StrictSerializer

from .models import (
    COMPONENTS,
    RULE_FREQUENCIES,
    ActionStatus,
    AuditLogEntry,
    AutopilotAction,
    AutopilotMode,
    CircuitBreaker,
    Rule,
    RuleExecution,
    RuleFiring,
    SignalHealthSnapshot,
    SignalStatus,
)
from .selectors.rules import LOOKBACKS

# --- signal health -------------------------------------------------------------------------------------------


class SignalComponentSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=COMPONENTS)
    score = serializers.IntegerField(allow_null=True, help_text="0–100; null when there is no data for it.")
    status = serializers.ChoiceField(choices=SignalStatus.values)
    weight = serializers.FloatField(required=False)
    details = serializers.DictField(required=False)


class AccountHealthSerializer(serializers.Serializer):
    ad_account_id = serializers.UUIDField()
    external_id = serializers.CharField()
    name = serializers.CharField()
    platform = serializers.CharField()
    overall_score = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=SignalStatus.values)
    signals = SignalComponentSerializer(many=True)


class WindowSerializer(serializers.Serializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()


class TrustSignalHealthSerializer(serializers.Serializer):
    overall_score = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=SignalStatus.values)
    signals = SignalComponentSerializer(many=True)
    thresholds = serializers.DictField(child=serializers.IntegerField())
    weights = serializers.DictField(child=serializers.FloatField())
    window = WindowSerializer(allow_null=True)
    computed_at = serializers.DateTimeField()
    accounts = AccountHealthSerializer(many=True, required=False)
    ad_account = AccountHealthSerializer(required=False, help_text="With ?ad_account_id=: the account itself.")


class SnapshotSerializer(serializers.ModelSerializer):
    signals = serializers.SerializerMethodField()

    class Meta:
        model = SignalHealthSnapshot
        fields = ["id", "run_id", "ad_account_id", "computed_at", "trigger", "overall_score", "status", "signals"]

    def get_signals(self, obj) -> list[dict]:
        return [{"name": s["name"], "score": s["score"], "status": s["status"]} for s in obj.signals]


# --- gate and audit log ----------------------------------------------------------------------------------------


class GateAccountSerializer(serializers.Serializer):
    ad_account_id = serializers.UUIDField()
    name = serializers.CharField()
    platform = serializers.CharField()
    signal = serializers.DictField()
    state = serializers.ChoiceField(choices=("open", "hold", "closed"),
                                    help_text="open: automation acts; hold: some or all of it waits for approval "
                                              "or is blocked; closed: everything is blocked.")
    automation = serializers.DictField(child=serializers.ChoiceField(choices=("allowed", "held", "blocked")),
                                       help_text="What the gate answers automation now, for spend increases and "
                                                 "decreases.")
    reasons = serializers.DictField(child=serializers.CharField())
    circuit_breaker = serializers.DictField(allow_null=True)


class GateStatusSerializer(serializers.Serializer):
    overall = serializers.DictField()
    accounts = GateAccountSerializer(many=True)
    last_24h = serializers.DictField(child=serializers.IntegerField(), help_text="allowed, held, blocked, total")
    settings = serializers.DictField()
    thresholds = serializers.DictField(child=serializers.IntegerField())


class AuditLogEntrySerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditLogEntry
        fields = ["id", "created_at", "event", "decision", "actor", "action", "action_id", "rule_id",
                  "ad_account_id", "campaign_id", "target", "reason", "signal", "details"]
        read_only_fields = fields

    def get_actor(self, obj) -> dict:
        return {"type": obj.actor_type, "id": obj.actor_id or None, "name": obj.actor_name}


# --- autopilot ------------------------------------------------------------------------------------------------


class AutopilotSettingsSerializer(serializers.Serializer):
    max_budget_change_percent = serializers.IntegerField(min_value=1, max_value=100)
    require_approval_above = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"),
                                                      max_value=Decimal("999999999.99"), coerce_to_string=False)
    pause_on_degraded_signal = serializers.BooleanField()
    target_roas = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0.1"),
                                           max_value=Decimal("100"), coerce_to_string=False)


class AutopilotSettingsNestedSerializer(StrictSerializer, AutopilotSettingsSerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class AutopilotSettingsUpdateSerializer(StrictSerializer):
    """The spec's flat body; the `settings` object of the status is accepted too."""

    enabled = serializers.BooleanField(required=False)
    mode = serializers.ChoiceField(choices=AutopilotMode.values, required=False)
    max_budget_change_percent = serializers.IntegerField(min_value=1, max_value=100, required=False)
    require_approval_above = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"),
                                                      max_value=Decimal("999999999.99"), required=False)
    pause_on_degraded_signal = serializers.BooleanField(required=False)
    target_roas = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0.1"),
                                           max_value=Decimal("100"), required=False)
    settings = AutopilotSettingsNestedSerializer(required=False)

    def validate(self, attrs):
        nested = attrs.pop("settings", None) or {}
        clash = sorted(set(nested) & set(attrs))
        if clash:
            raise serializers.ValidationError({f"settings.{key}": ["Given twice (top level and in settings)."]
                                               for key in clash})
        return {**attrs, **nested}


class AutopilotStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    mode = serializers.ChoiceField(choices=AutopilotMode.values)
    last_action = serializers.DateTimeField(allow_null=True)
    pending_actions = serializers.IntegerField()
    blocked_actions = serializers.IntegerField(help_text="Actions the gate blocked in the last 24 hours.")
    settings = AutopilotSettingsSerializer()
    last_run_at = serializers.DateTimeField(allow_null=True)
    circuit_breakers_open = serializers.IntegerField()


class CampaignRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    platform = serializers.CharField()


class AutopilotActionSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="kind")
    campaign = serializers.SerializerMethodField()
    money_impact = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False)
    decided_by = serializers.SerializerMethodField()
    rolled_back_by = serializers.SerializerMethodField()

    class Meta:
        model = AutopilotAction
        fields = ["id", "type", "status", "source", "rule_id", "campaign", "ad_account_id", "before", "after",
                  "money_impact", "currency", "reason", "evidence", "hold_reason", "signal", "group_id",
                  "rollback_of", "rolled_back_by", "proposed_at", "expires_at", "decided_at", "decided_by",
                  "decision_note", "executed_at", "error"]
        read_only_fields = fields

    def get_campaign(self, obj) -> CampaignRefSerializer:
        return {"id": str(obj.campaign_id), "name": obj.campaign.name, "platform": obj.campaign.platform}

    def get_decided_by(self, obj) -> dict | None:
        user = obj.decided_by
        return None if user is None else {"id": str(user.pk), "email": user.email, "name": user.name}

    def get_rolled_back_by(self, obj) -> str | None:
        rollbacks = [a for a in obj.rollbacks.all() if a.status == ActionStatus.EXECUTED]
        return str(rollbacks[0].pk) if rollbacks else None


class ActionRejectSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class AutopilotRunSerializer(serializers.Serializer):
    run_at = serializers.DateTimeField()
    trigger = serializers.CharField()
    proposed = serializers.IntegerField()
    executed = serializers.IntegerField()
    pending = serializers.IntegerField()
    blocked = serializers.IntegerField()
    failed = serializers.IntegerField()
    expired = serializers.IntegerField()
    signal_health = serializers.DictField()
    actions = AutopilotActionSerializer(many=True)


class CircuitBreakerSerializer(serializers.ModelSerializer):
    ad_account = serializers.SerializerMethodField()
    resumed_by = serializers.SerializerMethodField()

    class Meta:
        model = CircuitBreaker
        fields = ["id", "ad_account", "state", "reason", "details", "tripped_at", "trip_count", "resumed_at",
                  "resumed_by"]
        read_only_fields = fields

    def get_ad_account(self, obj) -> CampaignRefSerializer:
        return {"id": str(obj.ad_account_id), "name": obj.ad_account.name, "platform": obj.ad_account.platform}

    def get_resumed_by(self, obj) -> str | None:
        return obj.resumed_by.email if obj.resumed_by_id else None


# --- rules ----------------------------------------------------------------------------------------------------


class RuleWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    enabled = serializers.BooleanField(required=False)
    conditions = serializers.JSONField(help_text="A list (all must hold) or a group {operator: and|or, conditions}; "
                                                 "a condition is {field, operator, value, lookback?}.")
    actions = serializers.JSONField(help_text="[{type, …}]: pause_campaign, activate_campaign, increase_budget "
                                              "{percent}, decrease_budget {percent}, set_budget {amount}, notify "
                                              "{message?}, create_task {title?, priority?, assignee_ids?}, "
                                              "send_webhook; money actions take notify: true.")
    scope = serializers.JSONField(required=False, help_text="{type: all|platform|campaigns|client, platform?, "
                                                            "campaign_ids?, client_id?, campaign_status?}")
    frequency = serializers.ChoiceField(choices=tuple(RULE_FREQUENCIES), required=False)
    lookback = serializers.ChoiceField(choices=tuple(LOOKBACKS), required=False)
    cooldown_minutes = serializers.IntegerField(min_value=0, max_value=43200, required=False)


class RuleUpdateSerializer(RuleWriteSerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class RuleSerializer(serializers.ModelSerializer):
    next_run_at = serializers.SerializerMethodField()

    class Meta:
        model = Rule
        fields = ["id", "name", "description", "enabled", "conditions", "actions", "scope", "frequency", "lookback",
                  "cooldown_minutes", "created_at", "updated_at", "last_run_at", "next_run_at"]
        read_only_fields = fields

    def get_next_run_at(self, obj) -> str | None:
        if not obj.enabled:
            return None
        if obj.last_run_at is None:
            return serializers.DateTimeField().to_representation(timezone.now())
        due = obj.last_run_at + dt.timedelta(minutes=RULE_FREQUENCIES[obj.frequency])
        return serializers.DateTimeField().to_representation(due)


class RulePreviewItemSerializer(serializers.Serializer):
    campaign_id = serializers.UUIDField()
    name = serializers.CharField()
    platform = serializers.CharField()
    status = serializers.CharField()
    budget = serializers.FloatField()
    budget_type = serializers.CharField()
    metrics = serializers.DictField(help_text="{lookback: {field: value}} of every metric the rule reads.")
    in_cooldown = serializers.BooleanField()


class RulePreviewSerializer(serializers.Serializer):
    rule_id = serializers.UUIDField()
    evaluated_at = serializers.DateTimeField()
    conditions = serializers.CharField(help_text="The conditions in words.")
    evaluated = serializers.IntegerField(help_text="Campaigns in the rule's scope.")
    items = RulePreviewItemSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    limit = serializers.IntegerField()


class RuleFiringSerializer(serializers.ModelSerializer):
    class Meta:
        model = RuleFiring
        fields = ["id", "campaign_id", "fired_at", "metrics", "outcomes"]
        read_only_fields = fields


class RuleExecutionSerializer(serializers.ModelSerializer):
    firings = serializers.SerializerMethodField()

    class Meta:
        model = RuleExecution
        fields = ["id", "rule_id", "trigger", "status", "started_at", "finished_at", "evaluated", "matched",
                  "in_cooldown", "fired", "outcomes", "error", "firings"]
        read_only_fields = fields

    def get_firings(self, obj) -> RuleFiringSerializer(many=True):
        """Up to 50 of the run's firings (the views prefetch them as `recent_firings`)."""
        firings = getattr(obj, "recent_firings", None)
        return RuleFiringSerializer(firings if firings is not None else obj.firings.all()[:50], many=True).data


class BacktestRequestSerializer(StrictSerializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()


class BacktestSerializer(serializers.Serializer):
    rule_id = serializers.UUIDField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    days = serializers.IntegerField()
    evaluations = serializers.IntegerField()
    summary = serializers.DictField()
    timeline = serializers.ListField(child=serializers.DictField())
    truncated = serializers.BooleanField()
    caveats = serializers.ListField(child=serializers.CharField())
