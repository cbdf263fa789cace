"""Ad accounts, campaigns, ads and their daily results.

Daily metrics exist at campaign and ad level, one row per object per day; a re-sync of a day
replaces the row (upsert on the unique key). `tenant` is denormalised onto every row so tenant
scoping and date-range aggregation use one index.
"""
from django.db import models

from stratum.api.choices import Choices
from stratum.api.tenancy import TenantOwned


class Platform(Choices):
    META = "meta"
    GOOGLE = "google"
    TIKTOK = "tiktok"
    SNAPCHAT = "snapchat"
    DEMO = "demo"


class CampaignStatus(Choices):
    ACTIVE = "active"
    PAUSED = "paused"
    DRAFT = "draft"
    DELETED = "deleted"


class BudgetType(Choices):
    DAILY = "daily"
    LIFETIME = "lifetime"


class SyncStatus(Choices):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


class SyncTrigger(Choices):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    SEED = "seed"
    SYSTEM = "system"


class DemoChangeKind(Choices):
    CREATED = "created"
    STATUS = "status"
    BUDGET = "budget"


class AdAccount(TenantOwned):
    client = models.ForeignKey("workflow.Client", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="ad_accounts")
    platform = models.CharField(max_length=16, choices=Platform.choices, db_index=True)
    external_id = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="USD")
    timezone = models.CharField(max_length=64, default="UTC")
    is_active = models.BooleanField(default=True, help_text="Synced and shown; the user chose to use this account.")
    # The integrations.Connection (OAuth tokens) used to reach it; null for the demo platform.
    connection_id = models.UUIDField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True, help_text="Last successful sync.")
    last_sync_attempt_at = models.DateTimeField(null=True, blank=True)
    last_sync_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["platform", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "platform", "external_id"],
                                               name="campaigns_adaccount_unique_external")]

    def __str__(self) -> str:
        return f"{self.name} ({self.platform})"


class Campaign(TenantOwned):
    ad_account = models.ForeignKey(AdAccount, on_delete=models.CASCADE, related_name="campaigns")
    external_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    platform = models.CharField(max_length=16, choices=Platform.choices, db_index=True)
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.ACTIVE, db_index=True)
    objective = models.CharField(max_length=64, blank=True)
    budget_type = models.CharField(max_length=16, choices=BudgetType.choices, default=BudgetType.DAILY)
    budget_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    targeting = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["ad_account", "external_id"],
                                               name="campaigns_campaign_unique_external")]
        indexes = [models.Index(fields=["tenant", "status"]), models.Index(fields=["tenant", "platform"])]

    def __str__(self) -> str:
        return self.name


class Ad(TenantOwned):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="ads")
    external_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.ACTIVE)
    creative_type = models.CharField(max_length=32, blank=True)
    headline = models.CharField(max_length=255, blank=True)
    primary_text = models.TextField(blank=True)
    creative_url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["campaign", "external_id"], name="campaigns_ad_unique_external")]

    def __str__(self) -> str:
        return self.name


class MetricFields(models.Model):
    date = models.DateField()
    impressions = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)
    spend = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    conversions = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    landing_page_views = models.BigIntegerField(default=0)
    leads = models.BigIntegerField(default=0)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class CampaignDailyMetric(TenantOwned, MetricFields):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="daily_metrics")

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["campaign", "date"], name="campaigns_cdm_unique_day")]
        indexes = [models.Index(fields=["tenant", "date"]), models.Index(fields=["campaign", "date"])]


class CampaignMetricTotals(TenantOwned):
    """A campaign's lifetime sums of its daily metrics, so the lifetime list reads one row per campaign instead of
    every day. Kept by database triggers on `CampaignDailyMetric` (migration 0005) in the statement that writes the
    daily rows — every writer (sync upserts, seeds, raw SQL, cascades) keeps it exact, and parallel writers add
    their differences atomically. `campaign_totals_repair` recomputes it from the daily rows."""

    id = None
    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, primary_key=True,
                                    related_name="metric_totals")
    impressions = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)
    spend = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    conversions = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    revenue = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    landing_page_views = models.BigIntegerField(default=0)
    leads = models.BigIntegerField(default=0)


class AdDailyMetric(TenantOwned, MetricFields):
    ad = models.ForeignKey(Ad, on_delete=models.CASCADE, related_name="daily_metrics")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="ad_daily_metrics")

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["ad", "date"], name="campaigns_adm_unique_day")]
        indexes = [models.Index(fields=["tenant", "date"]), models.Index(fields=["campaign", "date"])]




class AdAccountSyncRun(TenantOwned):
    """One attempt to pull an ad account's campaigns, ads and insights.

    Kept for every attempt, successful or not: the trust engine derives the connector's recent error
    rate (api health) and data freshness from these rows, and `GET /campaigns/sync` shows them.
    """

    ad_account = models.ForeignKey(AdAccount, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(max_length=16, choices=SyncTrigger.choices, default=SyncTrigger.SCHEDULE)
    status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    window_start = models.DateField(null=True, blank=True)
    window_end = models.DateField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    campaigns_upserted = models.PositiveIntegerField(default=0)
    ads_upserted = models.PositiveIntegerField(default=0)
    rows_upserted = models.PositiveIntegerField(default=0, help_text="Daily metric rows written (campaign + ad).")
    rows_removed = models.PositiveIntegerField(default=0,
                                               help_text="Rows in the window the platform no longer reports.")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["ad_account", "-started_at"]),
                   models.Index(fields=["tenant", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.ad_account_id} {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()




class DemoPlatformChange(TenantOwned):
    """The demo ad platform's own memory: campaigns created and status/budget changes made through it.

    The simulator derives everything else from seeded randomness; these rows make changes stick the way
    they would on a real platform (and only from the day they were made: history is not rewritten).
    """

    ad_account = models.ForeignKey(AdAccount, on_delete=models.CASCADE, related_name="demo_changes")
    campaign_external_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=DemoChangeKind.choices)
    value = models.JSONField(default=dict)
    effective_date = models.DateField(help_text="Day (account time zone) from which the change applies.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["ad_account", "campaign_external_id"])]
