"""The per-campaign lifetime totals (`CampaignMetricTotals`) recomputed from the daily rows.

Triggers keep the totals in the statement that writes daily rows (migration 0005); this is the repair path after
writes that bypass triggers (a restore with triggers disabled, `session_replication_role = replica`, a TRUNCATE of
the daily table) and the check that nothing drifted.
"""
from __future__ import annotations

from django.db import connections, transaction

from ..metrics import DECIMAL_FIELDS, SUM_FIELDS
from ..models import Campaign, CampaignDailyMetric, CampaignMetricTotals


def campaign_totals_repair(*, tenant, dry_run: bool = False) -> int:
    """Makes the tenant's totals equal to the sums of its daily rows (a wrong or missing row is rewritten; a campaign
    without daily rows gets zeros) and answers how many campaigns were wrong. The daily rows are
    locked against writers for the duration (SHARE ROW EXCLUSIVE on PostgreSQL), so no write slips between the
    recomputation and the comparison."""
    columns = ", ".join(SUM_FIELDS)
    daily, totals = CampaignDailyMetric._meta.db_table, CampaignMetricTotals._meta.db_table
    campaigns = Campaign._meta.db_table
    zero_or = ", ".join(f"COALESCE(d.{f}, 0) AS {f}" for f in SUM_FIELDS)
    # Money to the cent (SQLite keeps decimals as floats, whose sums differ in the last bits by order of addition).
    # A campaign without a totals row (no daily row was ever written) counts as zeros.
    differs = " OR ".join((f"ROUND(COALESCE(t.{f}, 0), 2) <> ROUND(e.{f}, 2)" if f in DECIMAL_FIELDS
                           else f"COALESCE(t.{f}, 0) <> e.{f}") for f in SUM_FIELDS)
    expected = (f"SELECT c.id AS campaign_id, c.tenant_id, {zero_or} FROM {campaigns} c LEFT JOIN "
                f"(SELECT campaign_id, {', '.join(f'SUM({f}) AS {f}' for f in SUM_FIELDS)} FROM {daily} "
                f"WHERE tenant_id = %s GROUP BY campaign_id) d ON d.campaign_id = c.id WHERE c.tenant_id = %s")
    connection = connections[CampaignMetricTotals.objects.db]
    tenant_id = Campaign._meta.pk.get_db_prep_value(tenant.pk, connection)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {daily} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"SELECT e.campaign_id FROM ({expected}) e LEFT JOIN {totals} t ON t.campaign_id = "
                       f"e.campaign_id WHERE {differs}", [tenant_id, tenant_id])
        wrong = [row[0] for row in cursor.fetchall()]
        if wrong and not dry_run:
            cursor.execute(f"DELETE FROM {totals} WHERE tenant_id = %s", [tenant_id])
            cursor.execute(f"INSERT INTO {totals} (campaign_id, tenant_id, {columns}) {expected}",
                           [tenant_id, tenant_id])
    return len(wrong)
