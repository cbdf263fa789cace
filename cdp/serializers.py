"""CDP request and response shapes. Profile responses are exactly the spec's shape."""
from __future__ import annotations

from rest_framework import serializers

from campaigns.models import Platform
from stratum.api.serializers import StrictSerializer, datetime_text

from .models import (
    Audience,
    AudienceExport,
    AudienceSyncRun,
    Event,
    IdentityLink,
    LifecycleStage,
    PrivacyRequest,
    Profile,
    ProfileMerge,
    Segment,
    Source,
    SourceKind,
    SyncFrequency,
)
from .predictions import predictions_by_profile
from .services.events import MAX_BATCH_EVENTS


class IdentitySerializer(serializers.Serializer):
    type = serializers.CharField()
    value = serializers.CharField()


class RfmSerializer(serializers.Serializer):
    recency_score = serializers.IntegerField(allow_null=True)
    frequency_score = serializers.IntegerField(allow_null=True)
    monetary_score = serializers.IntegerField(allow_null=True)
    segment = serializers.CharField(allow_null=True)


class ProfilePredictionsSerializer(serializers.Serializer):
    """Churn prediction of the analytics app (null without one; see analytics/churn)."""

    churn_probability = serializers.FloatField()
    probability_alive = serializers.FloatField()
    churn_risk = serializers.CharField()
    expected_purchases_90d = serializers.FloatField(allow_null=True)
    computed_at = serializers.DateTimeField()


class ProfileListSerializer(serializers.ListSerializer):
    """Loads the page's predictions in one query."""

    def to_representation(self, data):
        profiles = list(data.all() if hasattr(data, "all") else data)
        self._context["predictions"] = predictions_by_profile(profile_ids=[p.pk for p in profiles])
        return super().to_representation(profiles)


def _identities(profile) -> list[dict]:
    """In the order they were added; identifiers added at once in id order (as the list reads them)."""
    return [{"type": i.type, "value": i.value} for i in sorted(profile.identities.all(), key=lambda i: (i.created_at, i.pk))]


def profile_items(rows) -> list[dict]:
    """A page of profiles (plain rows of `PROFILE_COLUMNS`, times as text, with `rfm`, `identities` and `predictions`,
    selectors.ProfilePage) as `ProfileSerializer(profiles, many=True).data` answers them (same keys, order and
    formats; a test compares the two), without a ModelSerializer's per-request field building."""
    return [{
        "id": str(p["id"]), "external_id": p["external_id"] or None, "email": p["email"] or None,
        "phone": p["phone"] or None, "lifecycle_stage": p["lifecycle_stage"],
        "rfm": p["rfm"],
        "traits": {**(p["traits"] or {}), "total_orders": p["total_orders"], "ltv": float(p["ltv"])},
        "identities": [{"type": kind, "value": value} for kind, value in p["identities"]],
        "predictions": p["predictions"],
        "created_at": p["created_at"], "updated_at": p["updated_at"]} for p in rows]


class ProfileSerializer(serializers.ModelSerializer):
    rfm = serializers.SerializerMethodField()
    traits = serializers.SerializerMethodField()
    identities = serializers.SerializerMethodField()
    predictions = serializers.SerializerMethodField()

    class Meta:
        model = Profile
        fields = ["id", "external_id", "email", "phone", "lifecycle_stage", "rfm", "traits", "identities",
                  "predictions", "created_at", "updated_at"]
        read_only_fields = fields
        list_serializer_class = ProfileListSerializer
        # to_representation answers null for an unknown identifier: say so in the schema
        extra_kwargs = {key: {"allow_null": True} for key in ("external_id", "email", "phone")}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for key in ("external_id", "email", "phone"):
            data[key] = data[key] or None
        return data

    def get_rfm(self, obj) -> RfmSerializer:
        rfm = obj.rfm_scores
        if rfm is None:
            return {"recency_score": None, "frequency_score": None, "monetary_score": None, "segment": None}
        return {"recency_score": rfm.recency_score, "frequency_score": rfm.frequency_score,
                "monetary_score": rfm.monetary_score, "segment": rfm.segment}

    def get_traits(self, obj) -> dict:
        return {**(obj.traits or {}), "total_orders": obj.total_orders, "ltv": float(obj.ltv)}

    def get_identities(self, obj) -> IdentitySerializer(many=True):
        return _identities(obj)

    def get_predictions(self, obj) -> ProfilePredictionsSerializer(allow_null=True):
        loaded = self.context.get("predictions")
        if loaded is None:
            loaded = predictions_by_profile(profile_ids=[obj.pk])
        return loaded.get(obj.pk)


class ProfileUpsertSerializer(StrictSerializer):
    identifiers = serializers.DictField(child=serializers.JSONField(), allow_empty=False)
    traits = serializers.DictField(required=False, default=dict)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.values, required=False)


class ProfileUpdateSerializer(StrictSerializer):
    traits = serializers.DictField(required=False, default=dict)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.values, required=False)


class UnmergeSerializer(StrictSerializer):
    merge_id = serializers.UUIDField(required=False)
    block_identifier = serializers.BooleanField(required=False, default=False)


class ProfileMergeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProfileMerge
        fields = ["id", "winner_id", "loser_id", "reason", "identifier_type", "identifier_value", "source",
                  "created_at", "undone_at"]
        read_only_fields = fields


class UnmergeResponseSerializer(serializers.Serializer):
    merge = ProfileMergeSerializer()
    profile = ProfileSerializer()
    restored_profile = ProfileSerializer()


class IdentityLinkSerializer(serializers.ModelSerializer):
    class Meta:
        model = IdentityLink
        fields = ["id", "profile_id", "action", "identifier_type", "identifier_value", "related_profile_id",
                  "merge_id", "reason", "source", "created_at"]
        read_only_fields = fields


class ProfileStatisticsSerializer(serializers.Serializer):
    total_profiles = serializers.IntegerField()
    by_lifecycle_stage = serializers.DictField(child=serializers.IntegerField())
    by_rfm_segment = serializers.DictField(child=serializers.IntegerField())
    without_rfm = serializers.IntegerField()
    with_email = serializers.IntegerField()
    with_phone = serializers.IntegerField()
    email_share = serializers.FloatField()
    phone_share = serializers.FloatField()
    purchasers = serializers.IntegerField()
    merged_profiles = serializers.IntegerField()


class RfmRecomputeSerializer(serializers.Serializer):
    detail = serializers.CharField()


class BlockedIdentifierSerializer(StrictSerializer):
    type = serializers.CharField(max_length=32)
    value = serializers.CharField(max_length=255)


class IdentityRulesSerializer(serializers.Serializer):
    blocklist = BlockedIdentifierSerializer(many=True)
    builtin_blocklist = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    caps = serializers.DictField(child=serializers.IntegerField())


class IdentityRulesUpdateSerializer(StrictSerializer):
    blocklist = BlockedIdentifierSerializer(many=True, required=False, max_length=10_000)
    caps = serializers.DictField(child=serializers.JSONField(), required=False)


# --- events ----------------------------------------------------------------------------------

EVENT_FIELDS = ("id", "profile_id", "event_type", "properties", "timestamp", "message_id", "source", "received_at")


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = list(EVENT_FIELDS)
        read_only_fields = fields


def events_render(rows) -> list[dict]:
    """EventSerializer's output from plain rows (`.values(*EVENT_FIELDS)`): on a timeline page the serializer's
    per-field machinery cost more than the query. tests/cdp/test_events.py holds the two to the same output."""
    stamp = datetime_text
    return [{"id": str(row["id"]), "profile_id": str(row["profile_id"]) if row["profile_id"] else None,
             "event_type": row["event_type"], "properties": row["properties"], "timestamp": stamp(row["timestamp"]),
             "message_id": row["message_id"], "source": row["source"], "received_at": stamp(row["received_at"])}
            for row in rows]


class TrackEventSerializer(StrictSerializer):
    """Documentation shape only: items are validated by the ingestion service (fast path, per-item errors)."""

    profile_id = serializers.UUIDField(required=False)
    identifiers = serializers.DictField(child=serializers.CharField(), required=False)
    event_type = serializers.CharField(max_length=64)
    properties = serializers.DictField(required=False)
    timestamp = serializers.DateTimeField(required=False)
    message_id = serializers.CharField(max_length=128, required=False)


class TrackResultSerializer(serializers.Serializer):
    id = serializers.UUIDField(allow_null=True, help_text="null when suppressed")
    profile_id = serializers.UUIDField(allow_null=True, help_text="null when suppressed")
    status = serializers.ChoiceField(choices=["created", "duplicate", "suppressed"])
    duplicate = serializers.BooleanField()


class BatchSerializer(serializers.Serializer):
    events = TrackEventSerializer(many=True, max_length=MAX_BATCH_EVENTS)


class BatchItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "duplicate", "rejected", "suppressed"],
                                     help_text="suppressed: it names a suppressed identifier; nothing was stored")
    id = serializers.UUIDField(required=False)
    profile_id = serializers.UUIDField(required=False)
    status_code = serializers.IntegerField(required=False)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class BatchResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    suppressed = serializers.IntegerField()
    results = BatchItemResultSerializer(many=True)


class EventTypeCountSerializer(serializers.Serializer):
    event_type = serializers.CharField()
    count = serializers.IntegerField()
    unique_profiles = serializers.IntegerField()


class DayCountSerializer(serializers.Serializer):
    date = serializers.DateField()
    count = serializers.IntegerField()


class PurchaseTotalsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    revenue = serializers.FloatField()


class EventStatisticsSerializer(serializers.Serializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    total_events = serializers.IntegerField()
    unique_profiles = serializers.IntegerField()
    by_type = EventTypeCountSerializer(many=True)
    by_day = DayCountSerializer(many=True)
    purchases = PurchaseTotalsSerializer()


# --- segments --------------------------------------------------------------------------------

class SegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = ["id", "name", "description", "conditions", "member_count", "last_refreshed_at", "last_added_count",
                  "last_removed_count", "created_at", "updated_at"]
        read_only_fields = fields


class SegmentCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    conditions = serializers.JSONField()


class SegmentUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    conditions = serializers.JSONField(required=False)


class SegmentPreviewRequestSerializer(StrictSerializer):
    conditions = serializers.JSONField()


class SegmentPreviewSerializer(serializers.Serializer):
    estimated_size = serializers.IntegerField()
    sample_profiles = ProfileSerializer(many=True)


# --- audiences -------------------------------------------------------------------------------

class PlatformAccountSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    external_id = serializers.CharField()
    name = serializers.CharField()


class PlatformSerializer(serializers.Serializer):
    platform = serializers.CharField()
    supports_audiences = serializers.BooleanField()
    batch_limit = serializers.IntegerField()
    ad_accounts = PlatformAccountSerializer(many=True)


class AudienceSerializer(serializers.ModelSerializer):
    segment_id = serializers.UUIDField(read_only=True)
    ad_account_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Audience
        fields = ["id", "name", "segment_id", "platform", "ad_account_id", "platform_config", "sync_frequency",
                  "external_audience_id", "status", "member_count", "match_rate", "last_synced_at", "created_at",
                  "updated_at"]
        read_only_fields = fields


class PlatformConfigSerializer(StrictSerializer):
    ad_account_id = serializers.CharField(max_length=64)
    audience_type = serializers.ChoiceField(choices=["custom"], required=False, default="custom")


class AudienceCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    segment_id = serializers.UUIDField()
    platform = serializers.ChoiceField(choices=Platform.values)
    platform_config = PlatformConfigSerializer()
    sync_frequency = serializers.ChoiceField(choices=SyncFrequency.values, default="daily")


class AudienceUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    segment_id = serializers.UUIDField(required=False)
    sync_frequency = serializers.ChoiceField(choices=SyncFrequency.values, required=False)


class AudienceSyncRunSerializer(serializers.ModelSerializer):
    audience_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = AudienceSyncRun
        fields = ["id", "audience_id", "trigger", "status", "started_at", "finished_at", "added", "removed", "matched",
                  "error"]
        read_only_fields = fields


# --- exports ---------------------------------------------------------------------------------

class ExportRequestSerializer(StrictSerializer):
    segment_id = serializers.UUIDField()
    format = serializers.ChoiceField(choices=["csv"], default="csv")
    include_traits = serializers.BooleanField(default=False)
    include_events = serializers.BooleanField(default=False)


class AudienceExportSerializer(serializers.ModelSerializer):
    segment_id = serializers.UUIDField(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = AudienceExport
        fields = ["id", "segment_id", "status", "include_traits", "include_events", "row_count", "error",
                  "download_url", "created_at", "finished_at"]
        read_only_fields = fields

    def get_download_url(self, obj) -> str | None:
        if obj.status != AudienceExport.Status.READY:
            return None
        path = f"/api/v1/cdp/audiences/exports/{obj.pk}/download"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


# --- privacy ---------------------------------------------------------------------------------

class PrivacyIdentifiersSerializer(StrictSerializer):
    email = serializers.CharField(max_length=254, required=False)
    phone = serializers.CharField(max_length=32, required=False)
    external_id = serializers.CharField(max_length=255, required=False)
    anonymous_id = serializers.CharField(max_length=255, required=False)


class PrivacyRequestCreateSerializer(StrictSerializer):
    type = serializers.ChoiceField(choices=PrivacyRequest.Type.values)
    profile_id = serializers.UUIDField(required=False)
    identifiers = PrivacyIdentifiersSerializer(required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="",
                                   help_text="Why (a ticket reference): no personal data, it is kept.")

    def validate(self, attrs):
        if not attrs.get("profile_id") and not attrs.get("identifiers"):
            raise serializers.ValidationError({"profile_id": ["Give profile_id or identifiers."],
                                               "identifiers": ["Give profile_id or identifiers."]})
        return attrs


class PrivacyRequestSerializer(serializers.ModelSerializer):
    requested_at = serializers.DateTimeField(source="created_at")
    download_url = serializers.SerializerMethodField()
    download_expires_at = serializers.SerializerMethodField()

    class Meta:
        model = PrivacyRequest
        fields = ["id", "type", "status", "profile_id", "identifier_types", "reason", "counts", "error", "attempts",
                  "requested_at", "started_at", "completed_at", "download_url", "download_expires_at"]
        read_only_fields = fields

    def _link(self, obj):
        links = self.context.setdefault("links", {})
        if obj.pk not in links:
            links[obj.pk] = self.context["link"](obj) if obj.file and "link" in self.context else (None, None)
        return links[obj.pk]

    def get_download_url(self, obj) -> str | None:
        return self._link(obj)[0]

    def get_download_expires_at(self, obj) -> str | None:
        return self._link(obj)[1]


class PrivacySettingsSerializer(serializers.Serializer):
    require_ads_consent = serializers.BooleanField()
    event_retention_days = serializers.IntegerField(allow_null=True)
    max_event_retention_days = serializers.IntegerField(allow_null=True, help_text="The plan's bound")
    effective_event_retention_days = serializers.IntegerField(allow_null=True)


class PrivacySettingsUpdateSerializer(StrictSerializer):
    require_ads_consent = serializers.BooleanField(required=False)
    event_retention_days = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class ConsentSerializer(StrictSerializer):
    ads = serializers.BooleanField(required=False, allow_null=True)
    email = serializers.BooleanField(required=False, allow_null=True)
    analytics = serializers.BooleanField(required=False, allow_null=True)
# --- sources (write keys for Segment's HTTP Tracking API) ----------------------------------------

class SourceSerializer(serializers.ModelSerializer):
    allowed_origins = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Source
        fields = ["id", "name", "kind", "allowed_origins", "key_prefix", "created_at", "key_rotated_at",
                  "last_used_at"]
        read_only_fields = fields


class SourceWithKeySerializer(SourceSerializer):
    """Creation and rotation: the write key, shown this once (only its hash is kept)."""

    write_key = serializers.SerializerMethodField()

    class Meta(SourceSerializer.Meta):
        fields = [*SourceSerializer.Meta.fields, "write_key"]
        read_only_fields = fields

    def get_write_key(self, obj) -> str:
        return self.context["write_key"]


class SourceCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=SourceKind.values)
    allowed_origins = serializers.ListField(child=serializers.CharField(max_length=255), required=False,
                                            default=list, max_length=50)
