import json

from rest_framework import serializers

from stratum.api.outbox import WEBHOOK_EVENTS
from stratum.api.serializers import StrictSerializer

from .models import Webhook, WebhookAttempt, WebhookDelivery


class WebhookSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    # "" while enabled; a read-only model field would lose allow_blank and the schema would forbid ""
    disabled_reason = serializers.ChoiceField(choices=Webhook._meta.get_field("disabled_reason").choices,
                                              allow_blank=True, read_only=True)

    class Meta:
        model = Webhook
        fields = ["id", "name", "url", "events", "is_active", "status", "disabled_reason", "disabled_at",
                  "secret_hint", "previous_secret_expires_at", "failing_since", "last_success_at",
                  "last_failure_at", "created_at", "updated_at"]
        read_only_fields = fields

    def get_status(self, obj) -> str:
        return "active" if obj.is_active else "disabled"


class WebhookWithSecretSerializer(WebhookSerializer):
    """Creation and rotation answers: the only times the secret is shown."""

    secret = serializers.SerializerMethodField()

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, obj) -> str:
        return self.context["secret"]


class EventListField(serializers.ListField):
    """Event names are checked against the catalogue by the service (422 naming the unknown ones)."""

    child = serializers.CharField(max_length=64)

    def __init__(self, **kwargs):
        super().__init__(max_length=len(WEBHOOK_EVENTS) * 2, **kwargs)


class WebhookCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    url = serializers.CharField(max_length=2000)
    events = EventListField()
    secret = serializers.CharField(max_length=200, required=False, trim_whitespace=False)


class WebhookUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    url = serializers.CharField(max_length=2000, required=False)
    events = EventListField(required=False)
    is_active = serializers.BooleanField(required=False)


class RotateSecretSerializer(StrictSerializer):
    secret = serializers.CharField(max_length=200, required=False, trim_whitespace=False,
                                   help_text="Optional: your own new secret; one is generated otherwise.")


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "outcome", "status_code", "latency_ms", "response_excerpt", "error", "started_at",
                  "finished_at", "next_attempt_at"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    webhook_id = serializers.UUIDField(read_only=True)
    payload = serializers.SerializerMethodField()
    attempts = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "webhook_id", "event_id", "event_type", "message_id", "status", "is_test", "attempt_count",
                  "next_attempt_at", "last_status_code", "last_error", "created_at", "completed_at", "payload",
                  "attempts"]
        read_only_fields = fields

    def get_payload(self, obj) -> dict:
        return json.loads(obj.body)


class WebhookEventSerializer(serializers.Serializer):
    event = serializers.CharField()
    description = serializers.CharField()
