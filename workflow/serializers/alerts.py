from __future__ import annotations

from rest_framework import serializers

from stratum.api.serializers import StrictSerializer

from ..alert_catalog import ALERT_TYPES, COMPARE_TO, DATA_SOURCES, FREQUENCY_TYPES, OPERATORS, WEEKDAYS, is_greater
from ..models import Alert, AlertInstance, DataLevel, InstanceStatus, TaskPriority, TaskType
from .common import user_ids


class ConditionSerializer(StrictSerializer):
    field = serializers.CharField(required=False, max_length=32)
    operator = serializers.ChoiceField(OPERATORS, required=False)
    value = serializers.FloatField(required=False)
    compare_to = serializers.ChoiceField(COMPARE_TO, required=False,
                                         help_text="value (default): a fixed threshold; account_average: "
                                                   "`value` percent above/below the account average.")
    lookback_days = serializers.IntegerField(required=False, min_value=1, max_value=90)
    min_spend = serializers.FloatField(required=False, min_value=0)


class ActionSerializer(StrictSerializer):
    create_task = serializers.BooleanField(required=False)
    assignees = user_ids()
    task_type = serializers.ChoiceField(TaskType.values, required=False)
    priority = serializers.ChoiceField(TaskPriority.values, required=False)


class FrequencySerializer(StrictSerializer):
    type = serializers.ChoiceField(FREQUENCY_TYPES, required=False)
    time = serializers.CharField(required=False, max_length=5, help_text="HH:MM, local time")
    timezone = serializers.CharField(required=False, max_length=64, help_text="IANA time zone")
    day_of_week = serializers.ChoiceField(WEEKDAYS, required=False, help_text="weekly alerts")


class AlertWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    alert_type = serializers.ChoiceField(ALERT_TYPES, required=False)
    data_source = serializers.ChoiceField(tuple(DATA_SOURCES), required=False)
    data_level = serializers.ChoiceField(DataLevel.values, required=False)
    condition_config = ConditionSerializer(required=False)
    action_config = ActionSerializer(required=False)
    frequency = FrequencySerializer(required=False)
    is_enabled = serializers.BooleanField(required=False)


class AlertCreateSerializer(AlertWriteSerializer):
    name = serializers.CharField(max_length=200)
    alert_type = serializers.ChoiceField(ALERT_TYPES)


class AlertSerializer(serializers.ModelSerializer):
    alert_id = serializers.UUIDField(source="id", read_only=True)
    client_id = serializers.UUIDField(read_only=True)
    custom_config = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = ["alert_id", "client_id", "name", "description", "alert_type", "is_enabled", "is_default",
                  "data_level", "data_source", "custom_config", "condition_config", "action_config", "frequency",
                  "last_run_at", "created_at", "updated_at"]
        read_only_fields = fields

    def get_custom_config(self, alert) -> dict:
        """The reference's `thresholds`, with `threshold_units` saying what each number is: an amount of the
        metric, or a percentage above/below the account average (`{"spend": 10}` alone reads like $10)."""
        condition = alert.condition_config
        field = condition.get("field")
        relative = condition.get("compare_to", "value") == "account_average"
        direction = "above" if is_greater(condition.get("operator", "greater_than")) else "below"
        unit = f"percent_{direction}_account_average" if relative else "absolute"
        return {"frequency": alert.frequency, "thresholds": {field: condition.get("value")},
                "threshold_units": {field: unit}}


class AlertTriggerSerializer(serializers.Serializer):
    alert_name = serializers.CharField()
    instances_created = serializers.IntegerField()
    instances_updated = serializers.IntegerField()
    instances_resolved = serializers.IntegerField()
    message = serializers.CharField()


class AlertTypeSerializer(serializers.Serializer):
    alert_type = serializers.CharField(source="key")
    name = serializers.CharField()
    description = serializers.CharField()
    data_source = serializers.CharField()
    data_level = serializers.CharField()
    operator = serializers.CharField()
    value = serializers.FloatField()
    compare_to = serializers.CharField()


class InstanceSerializer(serializers.ModelSerializer):
    alert_id = serializers.UUIDField(read_only=True)
    alert_name = serializers.CharField(source="alert.name", read_only=True)
    client_id = serializers.UUIDField(read_only=True)
    task_id = serializers.UUIDField(allow_null=True, read_only=True)
    resolved_by = serializers.UUIDField(source="resolved_by_id", allow_null=True, read_only=True)
    status = serializers.ChoiceField(InstanceStatus.values, read_only=True)

    class Meta:
        model = AlertInstance
        fields = ["id", "alert_id", "alert_name", "client_id", "object_type", "object_id", "triggered_at",
                  "last_seen_at", "occurrences", "alert_data", "status", "task_id", "resolved_at", "resolved_by",
                  "resolution_notes", "last_evaluated_at", "runs_without_data"]
        read_only_fields = fields


class InstanceCloseSerializer(StrictSerializer):
    resolution_notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)
