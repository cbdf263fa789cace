"""Per-campaign lifetime totals of the daily metrics (`CampaignMetricTotals`), kept by triggers on the daily rows
and backfilled from them. The campaign list's lifetime sums and orderings read one row per campaign."""

import django.db.models.deletion
from django.db import migrations, models


DAILY, TOTALS = "campaigns_campaigndailymetric", "campaigns_campaignmetrictotals"
FIELDS = ("impressions", "clicks", "spend", "conversions", "revenue", "landing_page_views", "leads")
COLUMNS = ", ".join(FIELDS)
SUMS = ", ".join(f"SUM({f})" for f in FIELDS)
ADD = ", ".join(f"{f} = t.{f} + EXCLUDED.{f}" for f in FIELDS)
NEGATED = ", ".join(f"-{f}" for f in FIELDS)

# PostgreSQL: statement-level triggers over the transition tables — one grouped upsert per statement (a sync's
# batch, a seed's INSERT … SELECT of 365,000 rows) rather than one per row. The upsert adds differences under the
# totals row's lock, so parallel writers to one campaign stay exact; rows are locked in campaign order.
UPSERT = (f"INSERT INTO {TOTALS} AS t (campaign_id, tenant_id, {COLUMNS}) SELECT campaign_id, tenant_id, {SUMS} "
          f"FROM (%s) d GROUP BY campaign_id, tenant_id ORDER BY campaign_id "
          f"ON CONFLICT (campaign_id) DO UPDATE SET {ADD}")
POSTGRES_UP = [f"""
CREATE OR REPLACE FUNCTION campaigns_totals_insert() RETURNS trigger AS $$
BEGIN
    {UPSERT % f"SELECT campaign_id, tenant_id, {COLUMNS} FROM new_rows"};
    RETURN NULL;
END;
$$ LANGUAGE plpgsql""", f"""
CREATE OR REPLACE FUNCTION campaigns_totals_update() RETURNS trigger AS $$
BEGIN
    {UPSERT % (f"SELECT campaign_id, tenant_id, {COLUMNS} FROM new_rows UNION ALL "
               f"SELECT campaign_id, tenant_id, {NEGATED} FROM old_rows")};
    RETURN NULL;
END;
$$ LANGUAGE plpgsql""", f"""
CREATE OR REPLACE FUNCTION campaigns_totals_delete() RETURNS trigger AS $$
BEGIN
    -- Only existing totals: in a cascade (campaign, account, tenant) the totals row may already be gone.
    PERFORM 1 FROM {TOTALS} WHERE campaign_id IN (SELECT campaign_id FROM old_rows) ORDER BY campaign_id FOR UPDATE;
    UPDATE {TOTALS} t SET {", ".join(f"{f} = t.{f} - d.{f}" for f in FIELDS)}
    FROM (SELECT campaign_id, {", ".join(f"SUM({f}) AS {f}" for f in FIELDS)} FROM old_rows GROUP BY campaign_id) d
    WHERE t.campaign_id = d.campaign_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql""",
    f"CREATE TRIGGER campaigns_totals_insert AFTER INSERT ON {DAILY} REFERENCING NEW TABLE AS new_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION campaigns_totals_insert()",
    f"CREATE TRIGGER campaigns_totals_update AFTER UPDATE ON {DAILY} REFERENCING OLD TABLE AS old_rows "
    f"NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaigns_totals_update()",
    f"CREATE TRIGGER campaigns_totals_delete AFTER DELETE ON {DAILY} REFERENCING OLD TABLE AS old_rows "
    f"FOR EACH STATEMENT EXECUTE FUNCTION campaigns_totals_delete()",
]
POSTGRES_DOWN = [f"DROP TRIGGER IF EXISTS campaigns_totals_{op} ON {DAILY}" for op in ("insert", "update", "delete")] + [
    f"DROP FUNCTION IF EXISTS campaigns_totals_{op}()" for op in ("insert", "update", "delete")]


def _sqlite_upsert(row: str, sign: str) -> str:
    values = ", ".join(f"{sign}{row}.{f}" for f in FIELDS)
    return (f"INSERT INTO {TOTALS} (campaign_id, tenant_id, {COLUMNS}) VALUES ({row}.campaign_id, {row}.tenant_id, "
            f"{values}) ON CONFLICT (campaign_id) DO UPDATE SET {', '.join(f'{f} = {f} + excluded.{f}' for f in FIELDS)};")


# SQLite: row-level triggers (it has no statement-level ones), in the writing statement as well.
SQLITE_UP = [
    f"CREATE TRIGGER campaigns_totals_insert AFTER INSERT ON {DAILY} BEGIN {_sqlite_upsert('NEW', '')} END",
    f"CREATE TRIGGER campaigns_totals_update AFTER UPDATE ON {DAILY} BEGIN {_sqlite_upsert('OLD', '-')} "
    f"{_sqlite_upsert('NEW', '')} END",
    f"CREATE TRIGGER campaigns_totals_delete AFTER DELETE ON {DAILY} BEGIN UPDATE {TOTALS} SET "
    f"{', '.join(f'{f} = {f} - OLD.{f}' for f in FIELDS)} WHERE campaign_id = OLD.campaign_id; END",
]
SQLITE_DOWN = [f"DROP TRIGGER IF EXISTS campaigns_totals_{op}" for op in ("insert", "update", "delete")]
BACKFILL = (f"INSERT INTO {TOTALS} (campaign_id, tenant_id, {COLUMNS}) SELECT campaign_id, tenant_id, {SUMS} "
            f"FROM {DAILY} GROUP BY campaign_id, tenant_id")


def _run(sql_by_vendor, *, backfill: bool = False):
    def apply(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql" and backfill:  # no daily row written between the backfill and the triggers
            schema_editor.execute(f"LOCK TABLE {DAILY} IN SHARE ROW EXCLUSIVE MODE", params=None)
        for statement in sql_by_vendor.get(vendor, []):
            schema_editor.execute(statement, params=None)
        if backfill:
            schema_editor.execute(BACKFILL, params=None)
    return apply


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0007_verbose_names'),
        ('campaigns', '0004_metric_covering_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='CampaignMetricTotals',
            fields=[
                ('campaign', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='metric_totals', serialize=False, to='campaigns.campaign')),
                ('impressions', models.BigIntegerField(default=0)),
                ('clicks', models.BigIntegerField(default=0)),
                ('spend', models.DecimalField(decimal_places=2, default=0, max_digits=20)),
                ('conversions', models.DecimalField(decimal_places=2, default=0, max_digits=20)),
                ('revenue', models.DecimalField(decimal_places=2, default=0, max_digits=20)),
                ('landing_page_views', models.BigIntegerField(default=0)),
                ('leads', models.BigIntegerField(default=0)),
                ('tenant', models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.tenant')),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.RunPython(_run({"postgresql": POSTGRES_UP, "sqlite": SQLITE_UP}, backfill=True),
                             _run({"postgresql": POSTGRES_DOWN, "sqlite": SQLITE_DOWN})),
    ]
