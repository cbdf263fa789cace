from django.contrib import admin

from .admin_base import ReadOnlyAdmin
from .models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("event_type", "tenant", "status", "created_at", "dispatched_at")
    list_filter = ("status", "event_type", "created_at")
    search_fields = ("id", "event_type", "event_id", "tenant__name")
    date_hierarchy = "created_at"
