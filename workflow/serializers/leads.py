from __future__ import annotations

import json

from rest_framework import serializers

from stratum.api.serializers import StrictSerializer

from ..leadscoring import MIN_LABELLED_LEADS, NUMERIC_RAW_FIELDS
from ..models import Lead, LeadOutcome, LeadScoringModel

MAX_RAW_KEYS = 50
MAX_RAW_BYTES = 10_000


class LeadSerializer(serializers.ModelSerializer):
    client_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Lead
        fields = ["id", "client_id", "email", "score", "value", "raw_data", "source", "scored_with", "cdp_profile_id",
                  "cdp_events", "outcome", "created_at", "updated_at"]
        read_only_fields = fields


class RawDataField(serializers.DictField):
    """Visit and profile facts of a lead: page_views, time_on_site (seconds), form_submissions, events
    (non-negative numbers) and optional traits (company, job_title, phone, …) as short strings."""

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if len(data) > MAX_RAW_KEYS or len(json.dumps(data, default=str)) > MAX_RAW_BYTES:
            raise serializers.ValidationError(f"At most {MAX_RAW_KEYS} keys and {MAX_RAW_BYTES} bytes.")
        for key in NUMERIC_RAW_FIELDS:
            value = data.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 <= value <= 10**9):
                raise serializers.ValidationError(f"{key} must be a number from 0 to 1,000,000,000.")
        for key, value in data.items():
            if key not in NUMERIC_RAW_FIELDS and not isinstance(value, (str, int, float, bool, type(None))):
                raise serializers.ValidationError(f"{key} must be a plain value (text, number or boolean).")
            if isinstance(value, str) and len(value) > 500:
                raise serializers.ValidationError(f"{key} is longer than 500 characters.")
        return data


class ScoreLeadSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    raw_data = RawDataField(required=False, default=dict)
    client_id = serializers.UUIDField()
    source = serializers.CharField(required=False, max_length=64, default="website")
    outcome = serializers.ChoiceField(LeadOutcome.values, required=False,
                                      help_text="A known outcome (e.g. from a CRM): trains the client's model.")


class ScoringModelSerializer(serializers.ModelSerializer):
    client_id = serializers.UUIDField(read_only=True)
    min_labelled_leads = serializers.SerializerMethodField()

    class Meta:
        model = LeadScoringModel
        fields = ["client_id", "method", "weights", "auc", "training_samples", "positive_samples", "trained_at",
                  "min_labelled_leads", "updated_at"]
        read_only_fields = fields

    def get_min_labelled_leads(self, _model) -> int:
        return MIN_LABELLED_LEADS


class WeightsSerializer(StrictSerializer):
    engagement = serializers.FloatField(min_value=0, max_value=100)
    demographic = serializers.FloatField(min_value=0, max_value=100)
    behavioral = serializers.FloatField(min_value=0, max_value=100)


class ScoringConfigWriteSerializer(StrictSerializer):
    weights = WeightsSerializer()
