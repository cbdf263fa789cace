"""Covering indexes (PostgreSQL only) so dashboard and list aggregates are index-only scans.

`(tenant_id, date) INCLUDE (campaign_id, metrics)` serves tenant-wide date ranges (overview, performance,
freshness); `(campaign_id, date) INCLUDE (metrics)` serves per-campaign sums (campaign list, pacing).
SQLite has no INCLUDE; it keeps the plain indexes of 0001.
"""
from django.db import migrations

METRICS = "impressions, clicks, spend, conversions, revenue, landing_page_views, leads"
INDEXES = {
    "campaigns_cdm_tenant_date_cover": f"(tenant_id, date) INCLUDE (campaign_id, {METRICS})",
    "campaigns_cdm_campaign_date_cover": f"(campaign_id, date) INCLUDE ({METRICS})",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON campaigns_campaigndailymetric {columns}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0003_adaccountsyncrun_demoplatformchange")]
    operations = [migrations.RunPython(create, drop)]
