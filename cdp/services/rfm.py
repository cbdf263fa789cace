"""RFM scores from purchase events, computed in one SQL statement per tenant.

Per purchasing profile: recency = time of the last purchase, frequency = number of purchases, monetary = sum
of revenue. Each becomes a quintile score 1–5 with `1 + floor(5 · percent_rank())` (capped at 5), ordered so
that 5 is best (most recent, most frequent, highest spend). Ties share a score — one-time buyers all get the
same F — unlike NTILE, which splits equal values across buckets arbitrarily. The same SQL runs on PostgreSQL and
SQLite (≥ 3.25 window functions); only floor() is spelled per database.

Named segment from R and FM = round((F + M) / 2):
    R 5: FM 1 new_customers, FM 2–3 potential_loyalists, FM 4–5 champions
    R 4: FM 1 promising, FM 2–3 potential_loyalists, FM 4 loyal_customers, FM 5 champions
    R 3: FM 1–2 about_to_sleep, FM 3 need_attention, FM 4–5 loyal_customers
    R 2: FM 1–2 hibernating, FM 3–4 at_risk, FM 5 cannot_lose_them
    R 1: FM 1 lost, FM 2 hibernating, FM 3–4 at_risk, FM 5 cannot_lose_them
The tenant's `ProfileRfm` rows are replaced as a whole (DELETE + INSERT … SELECT in one transaction): profiles
without purchases have no row.
"""
from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from stratum.api.queueing import task_enqueue

from ..models import PURCHASE_EVENT, Event, ProfileRfm

SEGMENT_CASE = """CASE
  WHEN r = 5 AND fm = 1 THEN 'new_customers'
  WHEN r = 5 AND fm IN (2, 3) THEN 'potential_loyalists'
  WHEN r = 5 THEN 'champions'
  WHEN r = 4 AND fm = 1 THEN 'promising'
  WHEN r = 4 AND fm IN (2, 3) THEN 'potential_loyalists'
  WHEN r = 4 AND fm = 4 THEN 'loyal_customers'
  WHEN r = 4 THEN 'champions'
  WHEN r = 3 AND fm IN (1, 2) THEN 'about_to_sleep'
  WHEN r = 3 AND fm = 3 THEN 'need_attention'
  WHEN r = 3 THEN 'loyal_customers'
  WHEN r = 2 AND fm IN (1, 2) THEN 'hibernating'
  WHEN r = 2 AND fm IN (3, 4) THEN 'at_risk'
  WHEN r = 2 THEN 'cannot_lose_them'
  WHEN fm = 1 THEN 'lost'
  WHEN fm = 2 THEN 'hibernating'
  WHEN fm IN (3, 4) THEN 'at_risk'
  ELSE 'cannot_lose_them'
END"""


def _score(order_by: str) -> str:
    rank = f"PERCENT_RANK() OVER (ORDER BY {order_by})"
    if connection.vendor == "postgresql":
        return f"LEAST(5, 1 + FLOOR({rank} * 5))::smallint"
    return f"MIN(5, 1 + CAST({rank} * 5 AS INTEGER))"


def rfm_recompute_queue(*, tenant) -> None:
    """Asks a worker for a recompute now (it also runs nightly): the scores of a whole tenant are not a request's work."""
    task_enqueue(name="cdp.tasks.rfm_recompute_task", kwargs={"tenant_id": str(tenant.pk)})


def rfm_recompute(*, tenant) -> dict:
    """Scores every purchasing profile of the tenant; returns {"scored": n, "previous": n before}."""
    event_table, rfm_table = Event._meta.db_table, ProfileRfm._meta.db_table
    tenant_param = ProfileRfm._meta.get_field("tenant").get_db_prep_value(tenant.pk, connection)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    sql = f"""
INSERT INTO {rfm_table} (profile_id, tenant_id, recency_score, frequency_score, monetary_score, segment, computed_at)
WITH agg AS (
  SELECT profile_id, MAX(timestamp) AS last_at, COUNT(*) AS n, COALESCE(SUM(revenue), 0) AS m
  FROM {event_table} WHERE tenant_id = %s AND event_type = %s GROUP BY profile_id
), scored AS (
  SELECT profile_id, {_score("last_at")} AS r, {_score("n")} AS f, {_score("m")} AS mo FROM agg
), named AS (
  SELECT profile_id, r, f, mo, (f + mo + 1) / 2 AS fm FROM scored
)
SELECT profile_id, %s, r, f, mo, {SEGMENT_CASE}, %s FROM named"""
    rfm = ProfileRfm.objects.for_tenant(tenant)
    with transaction.atomic():
        previous = rfm.count()
        with connection.cursor() as cursor:
            # One DELETE without per-row collection: nothing references these rows.
            cursor.execute(f"DELETE FROM {rfm_table} WHERE tenant_id = %s", [tenant_param])
            cursor.execute(sql, [tenant_param, PURCHASE_EVENT, tenant_param, now])
        scored = rfm.count()
    return {"scored": scored, "previous": previous}
