"""Request bodies (strict: unknown fields are a 422) and response shapes of the campaigns API.

Money is a JSON number (two decimals), times ISO-8601 UTC with Z. Response serializers of selector-backed
endpoints describe the dicts the selectors return (OpenAPI), the views return those dicts.
"""
from __future__ import annotations

from rest_framework import serializers

from stratum.api.serializers import StrictSerializer, datetime_text

from .metrics import METRICS, metric_value
from .models import AdAccount, AdAccountSyncRun, BudgetType, Campaign, Platform


class MoneyField(serializers.DecimalField):
    """Decimal in, JSON number (two decimals) out."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("coerce_to_string", False)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return round(float(value), 2)


def metrics_fields() -> dict[str, serializers.Field]:
    return {name: serializers.FloatField(read_only=True) for name in METRICS}


MetricsSerializer = type("MetricsSerializer", (serializers.Serializer,), metrics_fields())


# --- campaigns -------------------------------------------------------------------------------

class CampaignListSerializer(serializers.ModelSerializer):
    """The spec's list item (id, name, platform, status, budget, spend, revenue, roas, conversions,
    created_at) plus a few fields a client needs to act on it."""

    budget = MoneyField(source="budget_amount", read_only=True)
    spend = serializers.FloatField(read_only=True)
    revenue = serializers.FloatField(read_only=True)
    roas = serializers.FloatField(read_only=True)
    conversions = serializers.FloatField(read_only=True)
    clicks = serializers.IntegerField(read_only=True)
    impressions = serializers.IntegerField(read_only=True)
    cpa = serializers.FloatField(read_only=True)
    ctr = serializers.FloatField(read_only=True)
    ad_account_id = serializers.UUIDField(read_only=True)
    currency = serializers.CharField(source="ad_account.currency", read_only=True)
    status = serializers.CharField(read_only=True, help_text="active, paused, draft or deleted.")

    class Meta:
        model = Campaign
        fields = ("id", "name", "platform", "status", "budget", "spend", "revenue", "roas", "conversions",
                  "created_at", "budget_type", "objective", "ad_account_id", "external_id", "currency", "clicks",
                  "impressions", "cpa", "ctr", "updated_at")
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for name in ("spend", "revenue", "roas", "conversions", "clicks", "impressions", "cpa", "ctr"):
            data[name] = metric_value(name, getattr(instance, name, 0))
        return data


def campaign_list_items(rows) -> list[dict]:
    """The list's items from the selector's rows (campaign columns, `currency` and formatted metrics): what
    `CampaignListSerializer` answers for the same campaigns (same keys, order and formats; a test compares the
    two), without a ModelSerializer's per-request field building."""
    return [{"id": str(r["id"]), "name": r["name"], "platform": r["platform"], "status": r["status"],
             "budget": None if r["budget_amount"] is None else round(float(r["budget_amount"]), 2),
             "spend": r["spend"], "revenue": r["revenue"], "roas": r["roas"], "conversions": r["conversions"],
             "created_at": datetime_text(r["created_at"]), "budget_type": r["budget_type"], "objective": r["objective"],
             "ad_account_id": str(r["ad_account_id"]), "external_id": r["external_id"], "currency": r["currency"],
             "clicks": r["clicks"], "impressions": r["impressions"], "cpa": r["cpa"], "ctr": r["ctr"],
             "updated_at": datetime_text(r["updated_at"])} for r in rows]


class SyncedAdAccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = AdAccount
        fields = ("id", "platform", "external_id", "name", "currency", "timezone", "client_id", "is_active",
                  "last_synced_at", "last_sync_attempt_at", "last_sync_error", "created_at")
        read_only_fields = fields


class AdAccountListSerializer(SyncedAdAccountSerializer):
    campaigns_count = serializers.IntegerField(read_only=True)

    class Meta(SyncedAdAccountSerializer.Meta):
        fields = SyncedAdAccountSerializer.Meta.fields + ("campaigns_count",)
        read_only_fields = fields


class CampaignDetailSerializer(CampaignListSerializer):
    ad_account = SyncedAdAccountSerializer(read_only=True)
    ads_count = serializers.IntegerField(read_only=True)
    metrics = serializers.SerializerMethodField()

    class Meta(CampaignListSerializer.Meta):
        fields = CampaignListSerializer.Meta.fields + ("start_date", "end_date", "targeting", "ad_account", "ads_count",
                                                       "metrics")
        read_only_fields = fields

    def get_metrics(self, instance) -> MetricsSerializer:
        return {name: getattr(instance, name, 0) for name in METRICS}


class CampaignUpdateSerializer(StrictSerializer):
    status = serializers.CharField(max_length=16, required=False, help_text="active, paused or deleted.")
    budget = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate(self, attrs):
        if "status" not in attrs and "budget" not in attrs:
            raise serializers.ValidationError({"non_field_errors": ["Give status and/or budget."]})
        return attrs


class CampaignDeleteSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


class SyncRequestSerializer(StrictSerializer):
    ad_account_id = serializers.UUIDField(required=False)


class SyncQueuedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    queued = serializers.ListField(child=serializers.UUIDField())
    skipped = serializers.ListField(child=serializers.UUIDField())


class SyncRunSerializer(serializers.ModelSerializer):
    ad_account_name = serializers.CharField(source="ad_account.name", read_only=True)
    platform = serializers.CharField(source="ad_account.platform", read_only=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    status = serializers.CharField(read_only=True, help_text="running, ok or failed.")

    class Meta:
        model = AdAccountSyncRun
        fields = ("id", "ad_account_id", "ad_account_name", "platform", "trigger", "status", "started_at",
                  "finished_at", "duration_seconds", "window_start", "window_end", "error_code", "error_message",
                  "campaigns_upserted", "ads_upserted", "rows_upserted", "rows_removed")
        read_only_fields = fields


class SyncStatusSerializer(serializers.Serializer):
    accounts = SyncedAdAccountSerializer(many=True)
    runs = SyncRunSerializer(many=True)


# --- campaign builder --------------------------------------------------------------------------

class BudgetSerializer(StrictSerializer):
    type = serializers.CharField(max_length=16, help_text=f"One of {', '.join(BudgetType.values)}.")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class CampaignCreateSerializer(StrictSerializer):
    platform = serializers.ChoiceField(choices=Platform.values)
    ad_account_id = serializers.CharField(max_length=64, help_text="The account's id in Stratum or on the platform "
                                                                   "(e.g. act_123456).")
    name = serializers.CharField(max_length=255)
    objective = serializers.CharField(max_length=64)
    budget = BudgetSerializer()
    targeting = serializers.DictField(required=False, default=dict)
    start_date = serializers.DateField(required=False, allow_null=True)
    end_date = serializers.DateField(required=False, allow_null=True)
    status = serializers.CharField(max_length=16, required=False, default="paused",
                                   help_text="active or paused (default).")


class BuilderPlatformSerializer(serializers.Serializer):
    platform = serializers.CharField()
    name = serializers.CharField()
    connected = serializers.BooleanField()
    available = serializers.BooleanField(help_text="A connector for the platform is installed.")
    ad_accounts = serializers.IntegerField()
    supports_audiences = serializers.BooleanField()
    objectives = serializers.ListField(child=serializers.CharField())
    min_daily_budget = serializers.FloatField()
    min_lifetime_budget = serializers.FloatField()
    daily_overdelivery = serializers.FloatField()
    monthly_cap_days = serializers.FloatField(allow_null=True)
    age_min = serializers.IntegerField()
    age_max = serializers.IntegerField()


# --- dashboard, analytics, pacing (response shapes) ------------------------------------------

class PlatformFiguresSerializer(serializers.Serializer):
    spend = serializers.FloatField()
    revenue = serializers.FloatField()
    conversions = serializers.FloatField()
    roas = serializers.FloatField()
    cpa = serializers.FloatField()




class SeriesPointSerializer(MetricsSerializer):
    date = serializers.DateField()


class PerformanceSerializer(serializers.Serializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    platform = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    totals = MetricsSerializer()
    previous_totals = MetricsSerializer()
    changes = serializers.DictField(child=serializers.FloatField(allow_null=True))
    series = SeriesPointSerializer(many=True)
    platforms = serializers.DictField(child=PlatformFiguresSerializer(), allow_null=True)


class AdPerformanceSerializer(MetricsSerializer):
    ad_id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField()
    creative_type = serializers.CharField()


class CampaignPerformanceSerializer(serializers.Serializer):
    campaign_id = serializers.UUIDField()
    campaign_name = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    currency = serializers.CharField()
    totals = MetricsSerializer()
    previous_totals = MetricsSerializer()
    changes = serializers.DictField(child=serializers.FloatField(allow_null=True))
    series = SeriesPointSerializer(many=True)
    ads = AdPerformanceSerializer(many=True)


class RecommendationSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="One of: " + ", ".join((
        "no_delivery", "pause", "review", "increase_budget", "investigate", "refresh_creative", "pacing")))
    priority = serializers.CharField(help_text="One of: " + ", ".join(("high", "medium", "low")))
    title = serializers.CharField()
    description = serializers.CharField()
    metrics = serializers.DictField()
    action = serializers.DictField(allow_null=True)


class RecommendationsSerializer(serializers.Serializer):
    campaign_id = serializers.UUIDField()
    campaign_name = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    generated_at = serializers.DateTimeField()
    metrics = MetricsSerializer()
    recommendations = RecommendationSerializer(many=True)








class CampaignAnalyticsItemSerializer(MetricsSerializer):
    campaign_id = serializers.UUIDField()
    name = serializers.CharField()
    platform = serializers.CharField()
    status = serializers.CharField()
    budget_type = serializers.CharField()
    budget = serializers.FloatField()


class CampaignAnalyticsSerializer(serializers.Serializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    currency = serializers.CharField()
    totals = MetricsSerializer()
    items = CampaignAnalyticsItemSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    limit = serializers.IntegerField()


class ForecastSerializer(serializers.Serializer):
    period_end = serializers.DateField()
    spend = serializers.FloatField()
    low = serializers.FloatField()
    high = serializers.FloatField()
    spent_to_date = serializers.FloatField()
    daily_rate = serializers.FloatField()
    days_remaining = serializers.FloatField()
    cap = serializers.FloatField()
    cap_basis = serializers.CharField()
    budget_utilisation_percent = serializers.FloatField(allow_null=True)


class PacingWindowSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="One of: " + ", ".join(("day", "month", "flight")))
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)
    elapsed_percent = serializers.FloatField(allow_null=True)


class PacingItemSerializer(serializers.Serializer):
    campaign_id = serializers.UUIDField()
    campaign_name = serializers.CharField()
    platform = serializers.CharField()
    ad_account_id = serializers.UUIDField()
    budget_type = serializers.CharField()
    budget = serializers.FloatField()
    currency = serializers.CharField()
    as_of = serializers.DateTimeField()
    window = PacingWindowSerializer()
    expected_spend = serializers.FloatField(allow_null=True)
    actual_spend = serializers.FloatField()
    pace_percent = serializers.FloatField(allow_null=True)
    deviation_percent = serializers.FloatField(allow_null=True)
    status = serializers.CharField()
    severity = serializers.CharField(help_text="One of: " + ", ".join(("ok", "warning", "critical")))
    type = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    recommendation = serializers.CharField()
    forecast = ForecastSerializer(allow_null=True)


class PacingStatusSerializer(serializers.Serializer):
    summary = serializers.DictField(child=serializers.IntegerField())
    items = PacingItemSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    limit = serializers.IntegerField()


class PacingAlertSerializer(serializers.Serializer):
    campaign_id = serializers.UUIDField()
    campaign_name = serializers.CharField()
    type = serializers.CharField(help_text="One of: " + ", ".join(("underpacing", "overpacing")))
    severity = serializers.CharField(help_text="One of: " + ", ".join(("warning", "critical")))
    message = serializers.CharField()
    recommendation = serializers.CharField()
    platform = serializers.CharField()
    expected_spend = serializers.FloatField()
    actual_spend = serializers.FloatField()
    deviation_percent = serializers.FloatField()
    currency = serializers.CharField()
    as_of = serializers.DateTimeField()
    window = PacingWindowSerializer()
    forecast = ForecastSerializer(allow_null=True)


class PacingAlertsSerializer(serializers.Serializer):
    alerts = PacingAlertSerializer(many=True)
