from rest_framework import serializers

from accounts.models import Tenant
from stratum.api.serializers import StrictSerializer

from .models import Invoice, Subscription
from .plans import FEATURES, LIMITS, RATE_LIMIT_OVERRIDES, TIERS, BillingPeriod
from .selectors import subscription_current, tenant_features, tenant_limits, tenant_usage

TENANT_STATUSES = tuple(Tenant.Status.values)


class LimitsSerializer(serializers.Serializer):
    max_ad_accounts = serializers.IntegerField()
    max_users = serializers.IntegerField()
    max_segments = serializers.IntegerField()
    max_event_retention_days = serializers.IntegerField(help_text="Longest raw CDP events may be kept (days).")


class UsageSerializer(serializers.Serializer):
    max_ad_accounts = serializers.IntegerField(help_text="Ad accounts in use (is_active).")
    max_users = serializers.IntegerField(help_text="Active members.")
    max_segments = serializers.IntegerField(help_text="CDP segments.")


class FeatureFlagsSerializer(serializers.Serializer):
    features = serializers.DictField(child=serializers.BooleanField())
    tier = serializers.CharField()
    limits = LimitsSerializer()

    class Meta:
        ref_name = "FeatureFlags"


# --- subscription & payments -----------------------------------------------------------------

class SubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Subscription
        fields = ["id", "plan", "billing_period", "status", "amount", "currency", "started_at",
                  "current_period_start", "current_period_end", "cancel_at_period_end", "canceled_at", "ended_at",
                  "cancellation_reason"]
        read_only_fields = fields


class CurrentSubscriptionSerializer(serializers.Serializer):
    tier = serializers.CharField(help_text="The plan in force (follows Stripe; staff may override).")
    subscription = SubscriptionSerializer(allow_null=True)
    features = serializers.DictField(child=serializers.BooleanField())
    limits = LimitsSerializer()
    usage = UsageSerializer()
    payments_configured = serializers.BooleanField()


class PlanPriceSerializer(serializers.Serializer):
    billing_period = serializers.ChoiceField(choices=BillingPeriod.values)
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    available = serializers.BooleanField(
        help_text="Payments and this plan's Stripe price are configured: checkout is possible.")


class RateLimitSerializer(serializers.Serializer):
    requests_per_minute = serializers.IntegerField()
    burst = serializers.IntegerField()


class PlanSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="starter, professional or enterprise.")
    name = serializers.CharField()
    prices = PlanPriceSerializer(many=True)
    features = serializers.DictField(child=serializers.BooleanField())
    limits = LimitsSerializer()
    rate_limit = RateLimitSerializer()
    current = serializers.BooleanField()


class CheckoutRequestSerializer(StrictSerializer):
    plan = serializers.CharField(max_length=40)
    billing_period = serializers.CharField(max_length=40, required=False, default="monthly")
    success_url = serializers.URLField(max_length=1000, required=False)
    cancel_url = serializers.URLField(max_length=1000, required=False)


class CheckoutResponseSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["checkout", "subscription_update"])
    plan = serializers.CharField()
    billing_period = serializers.CharField()
    session_id = serializers.CharField(allow_null=True)
    url = serializers.URLField(allow_null=True, help_text="Stripe Checkout page to send the user to.")
    expires_at = serializers.DateTimeField(allow_null=True)
    subscription = SubscriptionSerializer(allow_null=True)


class CancelRequestSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class InvoiceSerializer(serializers.ModelSerializer):
    plan = serializers.CharField(source="subscription.plan", allow_null=True, default=None)
    billing_period = serializers.CharField(source="subscription.billing_period", allow_null=True, default=None)

    class Meta:
        model = Invoice
        fields = ["id", "number", "status", "amount_due", "amount_paid", "currency", "period_start", "period_end",
                  "issued_at", "paid_at", "attempt_count", "next_payment_attempt", "hosted_invoice_url",
                  "invoice_pdf", "plan", "billing_period"]
        read_only_fields = fields


class WebhookAckSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    event_id = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["applied", "ignored", "duplicate"])


# --- superadmin ------------------------------------------------------------------------------

class AdminTenantSerializer(serializers.ModelSerializer):
    user_count = serializers.IntegerField(read_only=True)
    max_users = serializers.SerializerMethodField()
    subscription_status = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "plan", "status", "settings", "feature_flags", "limit_overrides",
                  "max_users", "user_count", "subscription_status", "created_at", "updated_at"]
        read_only_fields = fields

    def get_max_users(self, obj) -> int:
        return tenant_limits(tenant=obj)["max_users"]


class AdminTenantDetailSerializer(AdminTenantSerializer):
    features = serializers.SerializerMethodField()
    limits = serializers.SerializerMethodField()
    usage = serializers.SerializerMethodField()
    subscription = serializers.SerializerMethodField()

    class Meta(AdminTenantSerializer.Meta):
        fields = AdminTenantSerializer.Meta.fields + ["features", "limits", "usage", "subscription"]
        read_only_fields = fields

    def get_features(self, obj) -> dict[str, bool]:
        return tenant_features(tenant=obj)

    def get_limits(self, obj) -> dict[str, int]:
        return tenant_limits(tenant=obj)

    def get_usage(self, obj) -> dict[str, int | None]:
        return tenant_usage(tenant=obj)

    def get_subscription(self, obj) -> dict | None:
        current = subscription_current(tenant=obj)
        return SubscriptionSerializer(current).data if current else None


class AdminUpdateTenantSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    plan = serializers.ChoiceField(choices=list(TIERS), required=False)
    max_users = serializers.IntegerField(min_value=1, max_value=100_000, required=False, allow_null=True)
    limit_overrides = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=1_000_000, allow_null=True), required=False)
    feature_flags = serializers.DictField(child=serializers.BooleanField(allow_null=True), required=False)
    status = serializers.ChoiceField(choices=TENANT_STATUSES, required=False)
    suspended = serializers.BooleanField(required=False)

    def validate_feature_flags(self, value):
        unknown = [key for key in value if key not in FEATURES]
        if unknown:
            raise serializers.ValidationError(f"Unknown feature: {', '.join(unknown)}.")
        return value

    def validate_limit_overrides(self, value):
        unknown = [key for key in value if key not in LIMITS + RATE_LIMIT_OVERRIDES]
        if unknown:
            raise serializers.ValidationError(f"Unknown limit: {', '.join(unknown)}.")
        return value
