from django.contrib import admin

from stratum.api.admin_base import ReadOnlyAdmin, TenantOwnedAdmin

from .models import (
    Audience,
    AudienceExport,
    AudienceSyncRun,
    Event,
    IdentityLink,
    Profile,
    ProfileMerge,
    Segment,
    Source,
)


@admin.register(Profile)
class ProfileAdmin(TenantOwnedAdmin):
    list_display = ("__str__", "tenant", "lifecycle_stage", "total_orders", "ltv", "updated_at")
    list_filter = ("lifecycle_stage", "rfm__segment")
    search_fields = ("email", "external_id", "phone")
    readonly_fields = ("merged_into",)
    raw_id_fields = ("merged_into",)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("event_type", "tenant", "profile", "timestamp", "source")
    list_filter = ("event_type", "source")
    raw_id_fields = ("profile",)


@admin.register(IdentityLink)
class IdentityLinkAdmin(ReadOnlyAdmin):
    list_display = ("action", "tenant", "profile", "identifier_type", "identifier_value", "created_at")
    list_filter = ("action",)


@admin.register(ProfileMerge)
class ProfileMergeAdmin(ReadOnlyAdmin):
    list_display = ("winner", "loser", "tenant", "reason", "created_at", "undone_at")


@admin.register(Segment)
class SegmentAdmin(TenantOwnedAdmin):
    list_display = ("name", "tenant", "member_count", "last_refreshed_at")


@admin.register(Audience)
class AudienceAdmin(TenantOwnedAdmin):
    list_display = ("name", "tenant", "platform", "status", "member_count", "last_synced_at")


@admin.register(AudienceSyncRun)
class AudienceSyncRunAdmin(ReadOnlyAdmin):
    list_display = ("audience", "tenant", "status", "started_at", "added", "removed", "matched")
    list_filter = ("status", "started_at")
    search_fields = ("id", "audience__name", "audience__external_audience_id", "error")
    date_hierarchy = "started_at"


@admin.register(AudienceExport)
class AudienceExportAdmin(ReadOnlyAdmin):
    list_display = ("segment", "tenant", "status", "row_count", "created_at")


@admin.register(Source)
class SourceAdmin(ReadOnlyAdmin):
    """Write keys are made, rotated and revoked through the API (the key is shown once there)."""

    list_display = ("name", "kind", "key_prefix", "tenant", "created_at", "last_used_at", "revoked_at")
    list_filter = ("kind",)
    search_fields = ("name", "key_prefix", "tenant__name")
    exclude = ("key_hash",)
