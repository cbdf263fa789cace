from django.contrib import admin

from stratum.api.admin_base import ReadOnlyAdmin, TenantOwnedAdmin

from .models import (
    ChurnModelFit,
    ChurnPrediction,
    DigestRun,
    Funnel,
    Report,
    ReportDelivery,
    ReportSchedule,
    ReportTemplate,
)


@admin.register(Funnel)
class FunnelAdmin(TenantOwnedAdmin):
    list_display = ("name", "tenant", "conversion_window_days", "updated_at")
    list_filter = ("conversion_window_days",)
    search_fields = ("name",)


@admin.register(ChurnModelFit)
class ChurnModelFitAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "status", "customers", "repeat_customers", "computed_at")
    list_filter = ("status",)
    search_fields = ("message",)


@admin.register(ChurnPrediction)
class ChurnPredictionAdmin(ReadOnlyAdmin):
    list_display = ("profile", "tenant", "churn_probability", "risk", "computed_at")
    list_filter = ("risk",)
    search_fields = ("profile__email", "profile__external_id")
    raw_id_fields = ("profile",)


@admin.register(ReportTemplate)
class ReportTemplateAdmin(TenantOwnedAdmin):
    list_display = ("name", "tenant", "kind", "updated_at")
    list_filter = ("kind",)
    search_fields = ("name",)


@admin.register(Report)
class ReportAdmin(TenantOwnedAdmin):
    list_display = ("name", "tenant", "kind", "format", "status", "start_date", "end_date", "created_at")
    list_filter = ("status", "format", "kind")
    search_fields = ("name",)
    readonly_fields = ("file", "size_bytes", "page_count", "error", "started_at", "finished_at")
    raw_id_fields = ("schedule", "custom_template", "requested_by")


@admin.register(ReportSchedule)
class ReportScheduleAdmin(TenantOwnedAdmin):
    list_display = ("report", "tenant", "frequency", "time", "timezone", "is_active")
    list_filter = ("frequency", "is_active")
    search_fields = ("report__name",)
    raw_id_fields = ("report", "periodic_task", "created_by")


@admin.register(ReportDelivery)
class ReportDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("schedule", "tenant", "slot", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("schedule__report__name",)


@admin.register(DigestRun)
class DigestRunAdmin(ReadOnlyAdmin):
    list_display = ("week_start", "tenant", "recipients", "sent_at")
    search_fields = ("tenant__name",)
