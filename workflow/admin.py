from django.contrib import admin

from stratum.api.admin_base import TenantOwnedAdmin

from .models import Alert, AlertInstance, Client, ClientMembership, CreativeSubmission, Lead, LeadScoringModel, Task


class MembershipInline(admin.TabularInline):
    model = ClientMembership
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    raw_id_fields = ("user",)
    extra = 0


@admin.register(Client)
class ClientAdmin(TenantOwnedAdmin):
    list_display = ("name", "tenant", "is_active", "created_at")
    search_fields = ("name", "id")
    inlines = [MembershipInline]


@admin.register(Task)
class TaskAdmin(TenantOwnedAdmin):
    list_display = ("name", "client", "task_type", "status", "priority", "due_date", "created_at")
    list_filter = ("status", "task_type", "priority")
    search_fields = ("name", "id")
    raw_id_fields = ("client", "created_by", "completed_by", "assignees")


@admin.register(Alert)
class AlertAdmin(TenantOwnedAdmin):
    list_display = ("name", "client", "alert_type", "data_level", "is_enabled", "is_default", "last_run_at")
    list_filter = ("alert_type", "is_enabled", "is_default")
    search_fields = ("name", "id")
    raw_id_fields = ("client", "created_by", "periodic_task")


@admin.register(AlertInstance)
class AlertInstanceAdmin(TenantOwnedAdmin):
    list_display = ("alert", "object_type", "object_id", "status", "triggered_at", "occurrences")
    list_filter = ("status", "object_type")
    raw_id_fields = ("alert", "client", "task", "resolved_by")


@admin.register(Lead)
class LeadAdmin(TenantOwnedAdmin):
    list_display = ("email", "client", "score", "scored_with", "outcome", "created_at")
    list_filter = ("scored_with", "outcome")
    search_fields = ("email",)
    raw_id_fields = ("client",)


@admin.register(LeadScoringModel)
class LeadScoringModelAdmin(TenantOwnedAdmin):
    list_display = ("client", "method", "auc", "training_samples", "trained_at")
    raw_id_fields = ("client",)


@admin.register(CreativeSubmission)
class CreativeSubmissionAdmin(TenantOwnedAdmin):
    list_display = ("name", "client", "ad_type", "status", "media_content_type", "created_at")
    list_filter = ("status", "ad_type")
    search_fields = ("name", "id")
    raw_id_fields = ("client", "submitted_by", "reviewed_by", "task")
