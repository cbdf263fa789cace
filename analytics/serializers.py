"""Request and response shapes of the analytics and reporting endpoints (responses are documentation: the
selectors build the dicts, these describe them for the OpenAPI schema)."""
from __future__ import annotations

from rest_framework import serializers

from campaigns.models import Platform
from campaigns.serializers import PlatformFiguresSerializer
from stratum.api.serializers import StrictSerializer

from .funnels.services import MAX_WINDOW_DAYS
from .models import (
    ChurnRisk,
    Funnel,
    Report,
    ReportDelivery,
    ReportFormat,
    ReportSchedule,
    ReportStatus,
    ScheduleFrequency,
    Weekday,
)
from .reporting.schedules import next_run_at
from .reporting.templates import EXPORT_TYPES, KINDS, METRIC_CHOICES, standard_template

# --- attribution ----------------------------------------------------------------------------


class AttributionTotalsSerializer(serializers.Serializer):
    conversions = serializers.FloatField()
    revenue = serializers.FloatField()
    journeys = serializers.IntegerField()
    converting_journeys = serializers.IntegerField()
    non_converting_journeys = serializers.IntegerField()
    distinct_paths = serializers.IntegerField()
    channels = serializers.IntegerField()


class AttributedChannelSerializer(serializers.Serializer):
    channel = serializers.CharField()
    attributed_conversions = serializers.FloatField()
    attributed_revenue = serializers.FloatField()
    conversion_share = serializers.FloatField()
    revenue_share = serializers.FloatField()
    removal_effect = serializers.FloatField(required=False, help_text="data_driven only")
    removal_effect_value = serializers.FloatField(required=False, help_text="data_driven only")
    shapley_value = serializers.FloatField(required=False, help_text="shapley only")


class AttributedCampaignSerializer(serializers.Serializer):
    campaign = serializers.CharField(allow_null=True)
    campaign_id = serializers.UUIDField(allow_null=True)
    channels = serializers.ListField(child=serializers.CharField())
    attributed_conversions = serializers.FloatField()
    attributed_revenue = serializers.FloatField()
    conversion_share = serializers.FloatField()
    revenue_share = serializers.FloatField()
    spend = serializers.FloatField(allow_null=True)
    attributed_roas = serializers.FloatField(allow_null=True)


class AttributionSerializer(serializers.Serializer):
    model = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    lookback_days = serializers.IntegerField()
    order = serializers.IntegerField(required=False)
    half_life_days = serializers.FloatField(required=False)
    conversion_events = serializers.ListField(child=serializers.CharField())
    currency = serializers.CharField()
    totals = AttributionTotalsSerializer()
    insufficient_data = serializers.BooleanField()
    message = serializers.CharField(allow_null=True)
    model_details = serializers.DictField(required=False)
    channels = AttributedChannelSerializer(many=True)
    campaigns = AttributedCampaignSerializer(many=True)


class ModelFiguresSerializer(serializers.Serializer):
    attributed_conversions = serializers.FloatField()
    conversion_share = serializers.FloatField()
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()
    share_ci_low = serializers.FloatField()
    share_ci_high = serializers.FloatField()


class DisagreementSerializer(serializers.Serializer):
    channel = serializers.CharField(required=False)
    spread = serializers.FloatField()
    highest_model = serializers.CharField()
    lowest_model = serializers.CharField()
    flagged = serializers.BooleanField()


class CompareChannelSerializer(serializers.Serializer):
    channel = serializers.CharField()
    models = serializers.DictField(child=ModelFiguresSerializer())
    disagreement = DisagreementSerializer()


class AttributionCompareSerializer(serializers.Serializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    lookback_days = serializers.IntegerField()
    order = serializers.IntegerField()
    half_life_days = serializers.FloatField()
    conversion_events = serializers.ListField(child=serializers.CharField())
    currency = serializers.CharField()
    totals = AttributionTotalsSerializer()
    bootstrap = serializers.DictField()
    insufficient_data = serializers.BooleanField()
    message = serializers.CharField(allow_null=True)
    models = serializers.ListField(child=serializers.CharField())
    skipped_models = serializers.DictField(child=serializers.CharField())
    channels = CompareChannelSerializer(many=True)
    disagreements = DisagreementSerializer(many=True)


# --- funnels --------------------------------------------------------------------------------


class FunnelStepSerializer(serializers.Serializer):
    name = serializers.CharField()
    event_type = serializers.CharField()
    where = serializers.ListField(child=serializers.DictField(), help_text="CDP event-property rules")


class FunnelSerializer(serializers.ModelSerializer):
    steps = FunnelStepSerializer(many=True)

    class Meta:
        model = Funnel
        fields = ["id", "name", "description", "steps", "conversion_window_days", "created_at", "updated_at"]
        read_only_fields = fields


class FunnelWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    steps = serializers.ListField(child=serializers.JSONField(), min_length=1, max_length=20)
    conversion_window_days = serializers.IntegerField(min_value=1, max_value=MAX_WINDOW_DAYS, default=7)


class FunnelUpdateSerializer(FunnelWriteSerializer):
    name = serializers.CharField(max_length=200, required=False)
    steps = serializers.ListField(child=serializers.JSONField(), min_length=1, max_length=20, required=False)
    conversion_window_days = serializers.IntegerField(min_value=1, max_value=MAX_WINDOW_DAYS, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class FunnelReportStepSerializer(serializers.Serializer):
    step = serializers.IntegerField()
    name = serializers.CharField()
    event_type = serializers.CharField()
    count = serializers.IntegerField()
    conversion_from_previous = serializers.FloatField(allow_null=True)
    conversion_from_first = serializers.FloatField(allow_null=True)
    drop_off = serializers.IntegerField()
    median_seconds_from_previous = serializers.FloatField(allow_null=True)


class FunnelBreakdownGroupSerializer(serializers.Serializer):
    value = serializers.CharField(allow_null=True)
    steps = FunnelReportStepSerializer(many=True)


class FunnelBreakdownSerializer(serializers.Serializer):
    property = serializers.CharField()
    groups = FunnelBreakdownGroupSerializer(many=True)
    truncated = serializers.BooleanField()


class FunnelReportSerializer(serializers.Serializer):
    funnel_id = serializers.UUIDField()
    name = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    conversion_window_days = serializers.IntegerField()
    steps = FunnelReportStepSerializer(many=True)
    overall_conversion = serializers.FloatField(allow_null=True)
    insufficient_data = serializers.BooleanField()
    message = serializers.CharField(allow_null=True)
    breakdown = FunnelBreakdownSerializer(required=False)


# --- insights & what-if ---------------------------------------------------------------------


class InsightSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="optimization, anomaly, creative_fatigue, pacing or signal_health")
    severity = serializers.CharField(help_text="high, medium or low")
    title = serializers.CharField()
    description = serializers.CharField()
    potential_impact = serializers.CharField(allow_null=True)
    confidence = serializers.FloatField(help_text="0–1: an estimate's statistical confidence; 1.0 for a measurement "
                                                  "(pacing, signal health).")
    entity = serializers.DictField()
    data = serializers.DictField()


class InsightsSerializer(serializers.Serializer):
    insights = InsightSerializer(many=True)
    counts = serializers.DictField(child=serializers.IntegerField())
    generated_at = serializers.DateTimeField()
    currency = serializers.CharField()
    insufficient_data = serializers.BooleanField()
    message = serializers.CharField(allow_null=True)


class WhatIfChangeSerializer(StrictSerializer):
    campaign_id = serializers.UUIDField()
    budget = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, max_value=10_000_000)


class WhatIfRequestSerializer(StrictSerializer):
    changes = WhatIfChangeSerializer(many=True, allow_empty=False, max_length=100)
    horizon_days = serializers.IntegerField(min_value=1, max_value=90, default=30)

    def validate_changes(self, value):
        ids = [c["campaign_id"] for c in value]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("Each campaign may appear once.")
        return value


class WhatIfFiguresSerializer(serializers.Serializer):
    spend = serializers.FloatField()
    revenue = serializers.FloatField()
    revenue_low = serializers.FloatField()
    revenue_high = serializers.FloatField()
    roas = serializers.FloatField()
    roas_low = serializers.FloatField(required=False)
    roas_high = serializers.FloatField(required=False)


class WhatIfCampaignSerializer(serializers.Serializer):
    campaign_id = serializers.UUIDField()
    name = serializers.CharField()
    current_budget = serializers.FloatField()
    new_budget = serializers.FloatField()
    insufficient_data = serializers.BooleanField()
    delivery_rate = serializers.FloatField(required=False)
    baseline = WhatIfFiguresSerializer(allow_null=True)
    scenario = WhatIfFiguresSerializer(allow_null=True)
    change = serializers.DictField(allow_null=True)
    extrapolated = serializers.BooleanField(allow_null=True)
    model = serializers.DictField(required=False)
    message = serializers.CharField(required=False)


class WhatIfTotalSerializer(serializers.Serializer):
    baseline = WhatIfFiguresSerializer()
    scenario = WhatIfFiguresSerializer()
    change = serializers.DictField()


class WhatIfSerializer(serializers.Serializer):
    horizon_days = serializers.IntegerField()
    currency = serializers.CharField()
    campaigns = WhatIfCampaignSerializer(many=True)
    total = WhatIfTotalSerializer()
    complete = serializers.BooleanField()
    insufficient_data = serializers.BooleanField()


# --- churn ----------------------------------------------------------------------------------


class ChurnSummarySerializer(serializers.Serializer):
    status = serializers.CharField()
    insufficient_data = serializers.BooleanField()
    message = serializers.CharField(allow_null=True)
    model = serializers.CharField()
    parameters = serializers.DictField(child=serializers.FloatField(), allow_null=True)
    log_likelihood = serializers.FloatField(allow_null=True, required=False)
    customers = serializers.IntegerField()
    repeat_customers = serializers.IntegerField()
    by_risk = serializers.DictField(child=serializers.IntegerField())
    average_churn_probability = serializers.FloatField(allow_null=True)
    horizon_days = serializers.IntegerField(allow_null=True)
    computed_at = serializers.DateTimeField(allow_null=True)


class ChurnPredictionSerializer(serializers.Serializer):
    profile_id = serializers.UUIDField()
    email = serializers.CharField(allow_null=True)
    external_id = serializers.CharField(allow_null=True)
    churn_probability = serializers.FloatField()
    probability_alive = serializers.FloatField()
    churn_risk = serializers.ChoiceField(choices=ChurnRisk.values)
    expected_purchases_90d = serializers.FloatField(allow_null=True)
    repeat_purchases = serializers.IntegerField()
    recency_days = serializers.FloatField()
    age_days = serializers.FloatField()
    computed_at = serializers.DateTimeField()

    def to_representation(self, instance):
        return {
            "profile_id": str(instance.profile_id), "email": instance.profile.email or None,
            "external_id": instance.profile.external_id or None,
            "churn_probability": round(instance.churn_probability, 4),
            "probability_alive": round(instance.probability_alive, 4), "churn_risk": instance.risk,
            "expected_purchases_90d": (round(instance.expected_purchases, 3)
                                       if instance.expected_purchases is not None else None),
            "repeat_purchases": instance.repeat_purchases, "recency_days": instance.recency_days,
            "age_days": instance.age_days,
            "computed_at": serializers.DateTimeField().to_representation(instance.computed_at),
        }


class QueuedSerializer(serializers.Serializer):
    detail = serializers.CharField()


# --- reporting ------------------------------------------------------------------------------


class TemplateSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    key = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField()
    standard = serializers.BooleanField()
    sections = serializers.ListField(child=serializers.CharField())
    available_sections = serializers.ListField(child=serializers.CharField())
    metrics = serializers.ListField(child=serializers.CharField())
    include_charts = serializers.BooleanField()
    requires = serializers.ListField(child=serializers.CharField())
    formats = serializers.ListField(child=serializers.CharField())


class TemplateWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    kind = serializers.ChoiceField(choices=KINDS)
    sections = serializers.ListField(child=serializers.CharField(max_length=40), required=False, max_length=20)
    metrics = serializers.ListField(child=serializers.ChoiceField(choices=METRIC_CHOICES), required=False,
                                    max_length=len(METRIC_CHOICES))
    include_charts = serializers.BooleanField(required=False, default=True)


class TemplateUpdateSerializer(TemplateWriteSerializer):
    name = serializers.CharField(max_length=200, required=False)
    kind = serializers.ChoiceField(choices=KINDS, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    include_charts = serializers.BooleanField(required=False)


class DateRangeSerializer(StrictSerializer):
    start = serializers.DateField()
    end = serializers.DateField()


class ReportFiltersSerializer(StrictSerializer):
    client_id = serializers.UUIDField(required=False)
    platform = serializers.ChoiceField(choices=Platform.values, required=False)


class ReportCreateSerializer(StrictSerializer):
    template_id = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    date_range = DateRangeSerializer()
    format = serializers.ChoiceField(choices=ReportFormat.values, default="pdf")
    filters = ReportFiltersSerializer(required=False, default=dict)
    include_charts = serializers.BooleanField(required=False, default=True)


class ReportSerializer(serializers.ModelSerializer):
    template_id = serializers.SerializerMethodField()
    date_range = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=ReportStatus.values)

    class Meta:
        model = Report
        fields = ["id", "name", "template_id", "kind", "format", "date_range", "filters", "status", "error",
                  "page_count", "size_bytes", "download_url", "schedule_id", "created_at", "started_at", "finished_at"]
        read_only_fields = fields

    def get_template_id(self, obj) -> str:
        if obj.custom_template_id:
            return str(obj.custom_template_id)
        spec = standard_template(obj.template_key)
        return str(spec.id) if spec else obj.template_key

    def get_date_range(self, obj) -> DateRangeSerializer:
        return {"start": obj.start_date.isoformat(), "end": obj.end_date.isoformat()}

    def get_download_url(self, obj) -> str | None:
        if obj.status != ReportStatus.READY:
            return None
        return f"/api/v1/reporting/reports/{obj.pk}/download"


class ExportSerializer(StrictSerializer):
    type = serializers.ChoiceField(choices=tuple(EXPORT_TYPES), default="dashboard")
    format = serializers.ChoiceField(choices=ReportFormat.values, default="pdf")
    include_charts = serializers.BooleanField(default=True)
    date_range = DateRangeSerializer(required=False)


class ScheduleWriteSerializer(StrictSerializer):
    report_id = serializers.UUIDField()
    frequency = serializers.ChoiceField(choices=ScheduleFrequency.values)
    recipients = serializers.ListField(child=serializers.EmailField(max_length=254), allow_empty=False, max_length=20)
    day_of_week = serializers.ChoiceField(choices=Weekday.values, required=False, allow_null=True)
    day_of_month = serializers.IntegerField(min_value=1, max_value=28, required=False, allow_null=True)
    time = serializers.CharField(max_length=5)
    timezone = serializers.CharField(max_length=64, required=False)
    is_active = serializers.BooleanField(required=False, default=True)


class ScheduleUpdateSerializer(ScheduleWriteSerializer):
    report_id = None
    frequency = serializers.ChoiceField(choices=ScheduleFrequency.values, required=False)
    recipients = serializers.ListField(child=serializers.EmailField(max_length=254), allow_empty=False, max_length=20,
                                       required=False)
    time = serializers.CharField(max_length=5, required=False)
    is_active = serializers.BooleanField(required=False)


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportDelivery
        fields = ["id", "schedule_id", "slot", "status", "rendering_id", "recipients", "reasons", "error",
                  "created_at"]
        read_only_fields = fields


class ScheduleSerializer(serializers.ModelSerializer):
    time = serializers.SerializerMethodField()
    last_delivery = serializers.SerializerMethodField()
    next_run_at = serializers.SerializerMethodField()

    class Meta:
        model = ReportSchedule
        fields = ["id", "report_id", "frequency", "day_of_week", "day_of_month", "time", "timezone", "recipients",
                  "is_active", "next_run_at", "last_delivery", "created_at", "updated_at"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["day_of_week"] = data["day_of_week"] or None
        return data

    def get_time(self, obj) -> str:
        return obj.time.strftime("%H:%M")

    def get_last_delivery(self, obj) -> DeliverySerializer(allow_null=True):
        latest = getattr(obj, "latest_deliveries", None)
        if latest is None:
            latest = list(obj.deliveries.order_by("-slot")[:1])
        return DeliverySerializer(latest[0]).data if latest else None

    def get_next_run_at(self, obj) -> str | None:
        moment = next_run_at(schedule=obj) if obj.is_active else None
        return serializers.DateTimeField().to_representation(moment) if moment else None


# --- dashboard (campaigns' figures with the trust engine's signal health) ------------------------------

class DashboardOverviewSerializer(serializers.Serializer):
    total_spend = serializers.FloatField()
    total_revenue = serializers.FloatField()
    roas = serializers.FloatField()
    conversions = serializers.FloatField()
    signal_health = serializers.IntegerField(allow_null=True)
    signal_health_status = serializers.CharField()
    active_campaigns = serializers.IntegerField()
    platforms = serializers.DictField(child=PlatformFiguresSerializer())
    currency = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    previous_period = serializers.DictField()
    changes = serializers.DictField(child=serializers.FloatField(allow_null=True))


class SignalAccountSerializer(serializers.Serializer):
    ad_account_id = serializers.UUIDField()
    name = serializers.CharField()
    platform = serializers.CharField()
    last_synced_at = serializers.DateTimeField(allow_null=True)
    last_sync_error = serializers.CharField(allow_null=True)
    hours_since_sync = serializers.FloatField(allow_null=True)
    latest_data_date = serializers.DateField(allow_null=True)
    reporting_lag_days = serializers.IntegerField(allow_null=True)
    missing_days = serializers.ListField(child=serializers.DateField())
    score = serializers.IntegerField()
    status = serializers.CharField()


class SignalSerializer(serializers.Serializer):
    name = serializers.CharField()
    score = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()


class SignalHealthSerializer(serializers.Serializer):
    overall_score = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(help_text="One of: " + ", ".join(("healthy", "degraded", "unhealthy", "no_data")))
    signals = SignalSerializer(many=True)
    accounts = SignalAccountSerializer(many=True)
    thresholds = serializers.DictField(child=serializers.IntegerField())
    computed_at = serializers.DateTimeField()


# --- superadmin platform analytics -------------------------------------------------------------------

class OverviewSerializer(serializers.Serializer):
    range = serializers.DictField()
    tenants = serializers.DictField()
    subscriptions = serializers.DictField(child=serializers.IntegerField())
    mrr = serializers.DictField(child=serializers.FloatField(), help_text="Per currency.")
    arr = serializers.DictField(child=serializers.FloatField())
    users = serializers.DictField(child=serializers.IntegerField())
    events_ingested = serializers.IntegerField()
    ad_spend_managed = serializers.DictField(child=serializers.FloatField(), help_text="Per ad-account currency.")
    series = serializers.ListField(child=serializers.DictField())
