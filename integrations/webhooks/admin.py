"""Staff console: endpoints (secrets never shown), the delivery log read-only with its attempts."""
from django.contrib import admin

from stratum.api.admin_base import ReadOnlyAdmin

from .models import Webhook, WebhookAttempt, WebhookDelivery


@admin.register(Webhook)
class WebhookAdmin(ReadOnlyAdmin):
    """Read-only: URLs and events are changed through the API, where the SSRF guard and the catalogue apply."""

    list_display = ("name", "tenant", "url", "is_active", "disabled_reason", "failing_since", "last_success_at")
    list_filter = ("is_active", "disabled_reason")
    search_fields = ("name", "url", "tenant__name")
    exclude = ("secret_encrypted", "previous_secret_encrypted")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "outcome", "status_code", "latency_ms", "error", "response_excerpt", "started_at",
              "next_attempt_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event_type", "tenant", "webhook", "status", "attempt_count", "last_status_code",
                    "next_attempt_at", "created_at")
    list_filter = ("status", "event_type", "is_test", "created_at")
    list_select_related = ("tenant", "webhook")
    search_fields = ("id", "event_id", "message_id", "event_type", "webhook__name", "webhook__url", "tenant__name")
    date_hierarchy = "created_at"
    inlines = [WebhookAttemptInline]
