"""Campaign lifetime totals (`CampaignMetricTotals`): after every kind of write of daily metrics — sync upserts and
restatements, edits, deletions of rows, campaigns, ad accounts and tenants, parallel writers on PostgreSQL — the
totals equal a recomputation from the daily rows, and the lifetime list shows them."""
from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.models import Sum

from accounts.models import Tenant
from campaigns.connectors.base import AdRecord, CampaignRecord
from campaigns.metrics import SUM_FIELDS
from campaigns.models import AdAccount, Campaign, CampaignDailyMetric, CampaignMetricTotals
from campaigns.services import ad_account_sync
from campaigns.services.totals import campaign_totals_repair
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory
from tests.campaigns.conftest import NOW, insight
from tests.campaigns.factories import AdAccountFactory, CampaignDailyMetricFactory, CampaignFactory
from tests.faults.conftest import needs_postgres
from tests.helpers import client_for

pytestmark = pytest.mark.django_db
D1, D2, D3 = dt.date(2026, 3, 15), dt.date(2026, 3, 16), dt.date(2026, 3, 17)
ZERO = {f: 0 for f in SUM_FIELDS}


def recomputed() -> dict:
    """Every campaign's sums from its daily rows (all tenants), as {campaign id: {field: value}}."""
    rows = (CampaignDailyMetric.objects.unscoped().values("campaign_id")
            .annotate(**{f"{f}_sum": Sum(f) for f in SUM_FIELDS}))
    return {row["campaign_id"]: {f: row[f"{f}_sum"] for f in SUM_FIELDS} for row in rows}


def totals() -> dict:
    """The totals table, leaving out campaigns whose daily rows are all gone (their totals are zeros)."""
    out = {}
    for row in CampaignMetricTotals.objects.unscoped().values("campaign_id", *SUM_FIELDS):
        values = {f: row[f] for f in SUM_FIELDS}
        assert values == ZERO or row["campaign_id"] in recomputed_ids(), row
        if values != ZERO:
            out[row["campaign_id"]] = values
    return out


def recomputed_ids() -> set:
    return set(CampaignDailyMetric.objects.unscoped().values_list("campaign_id", flat=True))


def assert_exact():
    expected = {pk: values for pk, values in recomputed().items() if values != ZERO}
    assert totals() == expected
    tenants = dict(CampaignMetricTotals.objects.unscoped().values_list("campaign_id", "tenant_id"))
    assert all(tenants[pk] == tenant for pk, tenant in Campaign.objects.unscoped().filter(pk__in=tenants)
               .values_list("pk", "tenant_id"))


@pytest.fixture
def meta_account(tenant, fake_platform):
    fake_platform.campaigns = [CampaignRecord("c1", "Search", "active", "sales", "daily", Decimal("50")),
                               CampaignRecord("c2", "Video", "active", "sales", "daily", Decimal("20"))]
    fake_platform.ads = [AdRecord("a1", "c1", "Ad one")]
    fake_platform.insights = [insight(D1, "c1", spend=Decimal("30.10")), insight(D2, "c1", spend=Decimal("12.25")),
                              insight(D1, "c2", spend=Decimal("5.05")), insight(D3, "c1", "a1", spend=Decimal("7"))]
    return AdAccountFactory(tenant=tenant, platform="meta", external_id="act_1")




def test_sync_upserts_restatements_and_removals_keep_the_totals_exact(tenant, meta_account, fake_platform, scoped,
                                                                      time_machine, user):
    ad_account_sync(tenant=tenant, ad_account=meta_account, start=D1, end=D3)
    c1 = Campaign.objects.get(external_id="c1")
    assert CampaignMetricTotals.objects.for_tenant(tenant).get(campaign=c1).spend == Decimal("49.35")
    assert_exact()
    ad_account_sync(tenant=tenant, ad_account=meta_account, start=D1, end=D3)  # the same numbers again
    assert_exact()
    # The platform restates D2, drops c1's D3 and c2's D1.
    time_machine.move_to(NOW + dt.timedelta(hours=1), tick=False)
    fake_platform.insights = [insight(D1, "c1", spend=Decimal("30.10")), insight(D2, "c1", spend=Decimal("1.99"),
                                                                                 clicks=7)]
    run = ad_account_sync(tenant=tenant, ad_account=meta_account, start=D1, end=D3)
    assert run.rows_removed == 3
    assert CampaignMetricTotals.objects.for_tenant(tenant).get(campaign=c1).spend == Decimal("32.09")
    assert_exact()
    listed = client_for(user).get("/api/v1/campaigns").json()["items"]  # a token issued at the new time
    items = {item["external_id"]: item for item in listed}
    assert (items["c1"]["spend"], items["c1"]["clicks"], items["c2"]["spend"]) == (32.09, 27, 0)


def test_edits_and_deletions_of_rows_keep_the_totals_exact(tenant, scoped):
    a, b = CampaignFactory(tenant=tenant), CampaignFactory(tenant=tenant)
    rows = [CampaignDailyMetricFactory(tenant=tenant, campaign=c) for c in (a, a, a, b)]
    assert CampaignMetricTotals.objects.for_tenant(tenant).get(campaign=a).spend == Decimal("300.00")
    assert_exact()
    rows[0].spend, rows[0].impressions = Decimal("0.01"), 1  # one row saved
    rows[0].save()
    assert_exact()
    CampaignDailyMetric.objects.for_tenant(tenant).filter(campaign=a).update(clicks=3)  # a queryset update
    assert_exact()
    rows[1].campaign = b  # a row moved to another campaign
    rows[1].save()
    assert_exact()
    rows[2].delete()
    CampaignDailyMetric.objects.for_tenant(tenant).filter(campaign=b).delete()
    assert_exact()
    assert CampaignMetricTotals.objects.for_tenant(tenant).get(campaign=b).spend == 0


def test_deleting_campaigns_accounts_and_tenants_takes_their_totals_only(tenant, scoped):
    other = TenantFactory()
    with tenant_scope(other):
        kept = CampaignDailyMetricFactory(tenant=other).campaign
    account = AdAccountFactory(tenant=tenant)
    doomed = [CampaignFactory(tenant=tenant, ad_account=account) for _ in range(3)]
    for campaign in doomed:
        for _ in range(2):
            CampaignDailyMetricFactory(tenant=tenant, campaign=campaign)
    doomed[0].delete()
    assert_exact()
    AdAccount.objects.for_tenant(tenant).filter(pk=account.pk).delete()
    assert_exact()
    third = CampaignDailyMetricFactory(tenant=tenant).campaign
    assert CampaignMetricTotals.objects.unscoped().filter(campaign=third).exists()
    Tenant.objects.filter(pk=tenant.pk).delete()  # erasure of the whole tenant
    assert list(CampaignMetricTotals.objects.unscoped().values_list("campaign_id", flat=True)) == [kept.pk]
    assert_exact()


def test_repair_recomputes_drifted_totals(tenant, scoped, capsys):
    campaign = CampaignDailyMetricFactory(tenant=tenant).campaign
    idle = CampaignFactory(tenant=tenant)  # no daily rows: no totals row, and that is not drift
    assert campaign_totals_repair(tenant=tenant, dry_run=True) == 0
    CampaignMetricTotals.objects.for_tenant(tenant).filter(campaign=campaign).update(spend=Decimal("1.00"), leads=99)
    with pytest.raises(CommandError, match="1 campaign totals differ"):
        call_command("campaign_totals_repair", "--check", "--tenant", tenant.slug)
    call_command("campaign_totals_repair", "--tenant", tenant.slug)
    assert f"{tenant.slug}: 1 campaign totals repaired" in capsys.readouterr().out
    assert_exact()
    assert CampaignMetricTotals.objects.for_tenant(tenant).get(campaign=idle).spend == 0
    assert campaign_totals_repair(tenant=tenant) == 0


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_writers_on_postgresql_keep_the_totals_exact():
    """Six threads, each its own connection and transactions, upsert, restate, edit and delete daily rows of the same
    four campaigns at once (each on its own days, as parallel syncs of overlapping windows would): every totals row
    is contended, and the result equals the recomputation."""
    tenant = TenantFactory()
    with tenant_scope(tenant):
        campaigns = [CampaignFactory(tenant=tenant) for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(n: int):
        try:
            start.wait()
            with tenant_scope(tenant):
                for round_ in range(8):
                    days = [dt.date(2026, 1, 1) + dt.timedelta(days=n * 40 + d) for d in range(10)]
                    with transaction.atomic():
                        CampaignDailyMetric.objects.for_tenant(tenant).bulk_create(
                            [CampaignDailyMetric(tenant=tenant, campaign=c, date=day, impressions=n + round_ + i,
                                                 spend=Decimal(f"{n}.{round_:02d}") + i, clicks=i)
                             for i, c in enumerate(campaigns[::-1] if n % 2 else campaigns) for day in days],
                            update_conflicts=True, unique_fields=["campaign", "date"],
                            update_fields=["impressions", "spend", "clicks"])
                        CampaignDailyMetric.objects.for_tenant(tenant).filter(
                            date__in=days[:3], campaign=campaigns[round_ % 4]).update(revenue=Decimal("1.50") * n)
                    CampaignDailyMetric.objects.for_tenant(tenant).filter(date=days[round_]).delete()
        except BaseException as exc:  # noqa: BLE001 — reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert CampaignDailyMetric.objects.unscoped().count() == 6 * 4 * 9  # the last round deleted one of 10 days
    assert connection.vendor == "postgresql"
    assert_exact()
