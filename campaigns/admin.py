"""Staff console: ad accounts, campaigns, ads and sync runs, to look at and search. Read-only: budgets, statuses and
account selection change through the API, where the trust gate, the plan's max_ad_accounts and the outbox apply.
Daily metric rows are not listed (millions of rows; the API's analytics read them)."""
from django.contrib import admin

from stratum.api.admin_base import ReadOnlyAdmin

from .models import Ad, AdAccount, AdAccountSyncRun, Campaign


@admin.register(AdAccount)
class AdAccountAdmin(ReadOnlyAdmin):
    list_display = ("name", "tenant", "platform", "external_id", "currency", "is_active", "last_synced_at")
    list_filter = ("platform", "is_active", "currency")
    search_fields = ("name", "external_id")
    raw_id_fields = ("client",)


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ("name", "tenant", "platform", "status", "budget_type", "budget_amount", "ad_account",
                    "updated_at")
    list_filter = ("platform", "status", "budget_type")
    list_select_related = ("tenant", "ad_account")
    search_fields = ("name", "external_id", "ad_account__name")
    raw_id_fields = ("ad_account",)


@admin.register(Ad)
class AdAdmin(ReadOnlyAdmin):
    list_display = ("name", "tenant", "status", "creative_type", "campaign", "updated_at")
    list_filter = ("status", "creative_type")
    list_select_related = ("tenant", "campaign")
    search_fields = ("name", "external_id", "headline", "campaign__name")
    raw_id_fields = ("campaign",)


@admin.register(AdAccountSyncRun)
class AdAccountSyncRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "tenant", "ad_account", "trigger", "status", "finished_at", "error_code")
    list_filter = ("status", "trigger", "started_at")
    list_select_related = ("tenant", "ad_account")
    search_fields = ("id", "ad_account__name", "ad_account__external_id", "error_code")
    raw_id_fields = ("ad_account",)
    date_hierarchy = "started_at"
