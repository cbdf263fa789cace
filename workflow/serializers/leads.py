from __future__ import annotations

import json

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from stratum.api.serializers import StrictSerializer

from ..leadscoring import MIN_LABELLED_LEADS, NUMERIC_RAW_FIELDS
from ..models import Lead, LeadOutcome, LeadScoringModel, ScoringMethod

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


class FittedModelSerializer(serializers.Serializer):
    features = serializers.ListField(child=serializers.CharField())
    coefficients = serializers.DictField(child=serializers.FloatField(),
                                         help_text="Per feature, on standardised values (log-odds per SD).")
    intercept = serializers.FloatField()
    mean = serializers.DictField(child=serializers.FloatField())
    scale = serializers.DictField(child=serializers.FloatField())
    auc = serializers.FloatField(help_text="Held-out (cross-validated) ROC AUC.")
    fitted_at = serializers.DateTimeField()
    labelled_leads = serializers.IntegerField()
    converted_leads = serializers.IntegerField()


class ScoringModelSerializer(serializers.ModelSerializer):
    client_id = serializers.UUIDField(read_only=True)
    min_labelled_leads = serializers.SerializerMethodField()
    model = serializers.SerializerMethodField(help_text="The fitted logistic regression (null on the formula).")
    weights_apply_to = serializers.SerializerMethodField(
        help_text="formula: the weights score the leads; formula_fallback: a fitted model scores them and the "
                  "weights apply only when the client goes back to the formula.")

    class Meta:
        model = LeadScoringModel
        fields = ["client_id", "method", "weights", "weights_apply_to", "auc", "training_samples", "positive_samples",
                  "trained_at", "min_labelled_leads", "model", "updated_at"]
        read_only_fields = fields

    def get_min_labelled_leads(self, _model) -> int:
        return MIN_LABELLED_LEADS

    def get_weights_apply_to(self, obj) -> str:
        return "formula_fallback" if obj.method == ScoringMethod.LOGISTIC_REGRESSION and obj.coefficients else "formula"

    @extend_schema_field(FittedModelSerializer(allow_null=True))
    def get_model(self, obj) -> dict | None:
        fitted = obj.coefficients
        if obj.method != ScoringMethod.LOGISTIC_REGRESSION or not fitted:
            return None
        names = fitted["features"]
        return {"features": names, "coefficients": dict(zip(names, fitted["coef"], strict=False)),
                "intercept": fitted["intercept"], "mean": dict(zip(names, fitted["mean"], strict=False)),
                "scale": dict(zip(names, fitted["scale"], strict=False)), "auc": obj.auc,
                "fitted_at": obj.trained_at, "labelled_leads": obj.training_samples,
                "converted_leads": obj.positive_samples}


class WeightsSerializer(StrictSerializer):
    engagement = serializers.FloatField(min_value=0, max_value=100)
    demographic = serializers.FloatField(min_value=0, max_value=100)
    behavioral = serializers.FloatField(min_value=0, max_value=100)


class ScoringConfigWriteSerializer(StrictSerializer):
    weights = WeightsSerializer()
