"""Builds a report's document from the product's own selectors (the figures are the dashboard's figures).

Scope filters: `client_id` (the campaigns of that workflow client's ad accounts) and `platform`. Metrics come
from campaigns/metrics.py; attribution from the analytics attribution selectors; audience figures from the CDP.
"""
from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from campaigns.metrics import format_metrics, metric_ratios, metric_sums
from campaigns.models import Campaign
from campaigns.selectors import CampaignFilters, campaign_analytics, daily_series, metric_totals
from campaigns.selectors.common import metric_rows, percent_change
from cdp.models import RfmSegment, Segment
from cdp.selectors import profile_statistics
from stratum.api.params import DateRange
from workflow.models import Client

from ..attribution import AttributionQuery, attribution_report
from ..churn.selectors import churn_summary
from .document import Chart, Document, Heading, PageBreak, Paragraph, Table
from .templates import SECTION_TITLES, TemplateSpec

METRIC_LABELS = {"spend": "Spend", "revenue": "Revenue", "roas": "ROAS", "conversions": "Conversions",
                 "cpa": "CPA", "ctr": "CTR", "cpc": "CPC", "cpm": "CPM", "cvr": "CVR", "clicks": "Clicks",
                 "impressions": "Impressions", "landing_page_views": "Landing page views", "leads": "Leads",
                 "cplpv": "Cost / LPV", "cpl": "CPL"}
METRIC_KINDS = {"spend": "money", "revenue": "money", "cpa": "money", "cpc": "money", "cpm": "money",
                "cplpv": "money", "cpl": "money", "roas": "ratio", "ctr": "percent", "cvr": "percent",
                "conversions": "number", "clicks": "int", "impressions": "int", "landing_page_views": "int",
                "leads": "int"}
TOP_CAMPAIGNS = 10
MAX_CAMPAIGN_PAGES = 50


class Scope:
    def __init__(self, *, tenant, filters: dict):
        self.tenant = tenant
        self.client_id = filters.get("client_id")
        self.platform = filters.get("platform")
        self.filters = CampaignFilters(client_id=self.client_id, platform=self.platform)

    @property
    def scoped(self) -> bool:
        return bool(self.client_id or self.platform)

    def campaign_ids(self):
        return (Campaign.objects.for_tenant(self.tenant).filter(ad_account__client_id=self.client_id).values("pk")
                if self.client_id else None)


def _kpis(scope: Scope, date_range: DateRange, metrics) -> Table:
    current, previous = metric_totals(tenant=scope.tenant, date_range=date_range, platform=scope.platform,
                                      campaign_ids=scope.campaign_ids(), compare=True)
    rows = [[METRIC_LABELS[m], current[m], previous[m], percent_change(current[m], previous[m])] for m in metrics]
    return Table(SECTION_TITLES["kpis"], ["Metric", "This period", "Previous period", "Change"],
                 ["text", "row", "row", "percent"], rows, row_kinds=[METRIC_KINDS[m] for m in metrics])


def _daily(scope: Scope, date_range: DateRange) -> Chart:
    rows = metric_rows(tenant=scope.tenant, date_range=date_range, platform=scope.platform,
                       campaign_ids=scope.campaign_ids())
    series = daily_series(rows=rows, date_range=date_range)
    return Chart(SECTION_TITLES["daily_trend"], "line", [p["date"] for p in series],
                 {"spend": [p["spend"] for p in series], "revenue": [p["revenue"] for p in series]}, unit="money")


def _platforms(scope: Scope, date_range: DateRange, metrics) -> list:
    rows = (metric_rows(tenant=scope.tenant, date_range=date_range, platform=scope.platform,
                        campaign_ids=scope.campaign_ids())
            .values(name=F("campaign__platform")).annotate(**metric_sums(suffix="_sum"))
            .annotate(**metric_ratios(suffix="_sum")).order_by("-spend_sum"))
    data = [(r["name"], format_metrics(r, suffix="_sum")) for r in rows]
    table = Table(SECTION_TITLES["platforms"], ["Platform", *(METRIC_LABELS[m] for m in metrics)],
                  ["text", *(METRIC_KINDS[m] for m in metrics)],
                  [[name, *(values[m] for m in metrics)] for name, values in data])
    chart = Chart("Spend and revenue by platform", "bar", [name for name, _ in data],
                  {"spend": [v["spend"] for _, v in data], "revenue": [v["revenue"] for _, v in data]}, unit="money")
    return [table, chart]


def _campaigns(scope: Scope, date_range: DateRange, metrics, limit: int | None = None) -> list:
    campaigns, _ = campaign_analytics(tenant=scope.tenant, date_range=date_range, filters=scope.filters,
                                      ordering="-spend")
    campaigns = list(campaigns[:limit] if limit else campaigns)
    return [(c, format_metrics(vars(c))) for c in campaigns]


def _campaign_table(title: str, data, metrics) -> Table:
    return Table(title, ["Campaign", "Platform", "Status", *(METRIC_LABELS[m] for m in metrics)],
                 ["text", "text", "text", *(METRIC_KINDS[m] for m in metrics)],
                 [[c.name, c.platform, c.status, *(values[m] for m in metrics)] for c, values in data])


def _campaign_pages(scope: Scope, date_range: DateRange, data, metrics, charts: bool) -> list:
    blocks = []
    rows = metric_rows(tenant=scope.tenant, date_range=date_range, campaign_ids=[c.pk for c, _ in data])
    by_campaign: dict = {}
    for row in rows.values("campaign_id", "date").annotate(**metric_sums(suffix="_sum", fields=("spend", "revenue"))):
        by_campaign.setdefault(row["campaign_id"], {})[row["date"]] = row
    for campaign, values in data:
        blocks += [PageBreak(), Heading(campaign.name, 2),
                   Paragraph(f"{campaign.platform} · {campaign.status} · {campaign.budget_type} budget "
                             f"{campaign.budget_amount} · objective {campaign.objective or '–'}"),
                   Table("Figures", ["Metric", "Value"], ["text", "row"],
                         [[METRIC_LABELS[m], values[m]] for m in metrics],
                         row_kinds=[METRIC_KINDS[m] for m in metrics])]
        if charts:
            days = by_campaign.get(campaign.pk, {})
            labels = [d.isoformat() for d in date_range.dates()]
            blocks.append(Chart(f"{campaign.name}: daily spend and revenue", "line", labels, {
                "spend": [float(days[d]["spend_sum"]) if d in days else 0.0 for d in date_range.dates()],
                "revenue": [float(days[d]["revenue_sum"]) if d in days else 0.0 for d in date_range.dates()]},
                unit="money"))
    return blocks


def _attribution(scope: Scope, date_range: DateRange, charts: bool) -> list:
    query = AttributionQuery(date_range=date_range)
    result = attribution_report(tenant=scope.tenant, model="data_driven", query=query)
    if result["insufficient_data"]:
        return [Paragraph(f"Attribution: {result['message']}")]
    table = Table(SECTION_TITLES["attribution"] + " (data-driven)",
                  ["Channel", "Attributed conversions", "Attributed revenue", "Share"],
                  ["text", "number", "money", "percent"],
                  [[c["channel"], c["attributed_conversions"], c["attributed_revenue"], c["conversion_share"] * 100]
                   for c in result["channels"]])
    blocks = [table]
    if charts:
        blocks.append(Chart("Attributed conversions by channel", "pie", [c["channel"] for c in result["channels"]],
                            {"conversions": [c["attributed_conversions"] for c in result["channels"]]}))
    return blocks


def _audience(tenant, sections, charts: bool) -> list:
    blocks = []
    stats = profile_statistics(tenant=tenant)
    if "profiles" in sections:
        blocks.append(Table(SECTION_TITLES["profiles"], ["figure", "value"], ["text", "int"], [
            ["profiles", stats["total_profiles"]], ["purchasers", stats["purchasers"]],
            ["with e-mail", stats["with_email"]], ["with phone", stats["with_phone"]],
            ["merged away", stats["merged_profiles"]]]))
    if "lifecycle" in sections:
        stages = stats["by_lifecycle_stage"]
        blocks.append(Table(SECTION_TITLES["lifecycle"], ["stage", "profiles"], ["text", "int"],
                            [[k, v] for k, v in stages.items()]))
        if charts:
            blocks.append(Chart("Profiles by lifecycle stage", "bar", list(stages), {"profiles": list(stages.values())},
                                unit="count"))
    if "rfm" in sections:
        rfm = stats["by_rfm_segment"]
        blocks.append(Table(SECTION_TITLES["rfm"], ["segment", "profiles"], ["text", "int"],
                            [[name, rfm[name]] for name in RfmSegment.values] + [["no purchase yet", stats["without_rfm"]]]))
    if "segments" in sections:
        segments = Segment.objects.for_tenant(tenant).order_by("-member_count", "name")[:50]
        blocks.append(Table(SECTION_TITLES["segments"], ["segment", "members", "refreshed"], ["text", "int", "text"],
                            [[s.name, s.member_count, s.last_refreshed_at.date().isoformat() if s.last_refreshed_at
                              else "never"] for s in segments]))
    if "churn" in sections:
        churn = churn_summary(tenant=tenant)
        if churn["insufficient_data"]:
            blocks.append(Paragraph(f"Churn risk: {churn['message']}"))
        else:
            blocks.append(Table(SECTION_TITLES["churn"], ["risk", "customers"], ["text", "int"],
                                [[risk, n] for risk, n in churn["by_risk"].items()]))
            if charts:
                blocks.append(Chart("Customers by churn risk", "pie", list(churn["by_risk"]),
                                    {"customers": list(churn["by_risk"].values())}))
    return blocks


def document_build(*, tenant, spec: TemplateSpec, name: str, date_range: DateRange, filters: dict,
                   include_charts: bool) -> Document:
    scope = Scope(tenant=tenant, filters=filters)
    sections, metrics = spec.sections, [m for m in spec.metrics if m in METRIC_LABELS]
    charts = include_charts and spec.include_charts
    scope_text = ""
    if scope.client_id:
        client = Client.objects.for_tenant(tenant).filter(pk=scope.client_id).first()
        scope_text = f" · client {client.name if client else scope.client_id}"
    if scope.platform:
        scope_text += f" · platform {scope.platform}"
    doc = Document(title=name, subtitle=(f"{tenant.name} · {date_range.start.isoformat()} to "
                                         f"{date_range.end.isoformat()}{scope_text}"),
                   currency=tenant.currency,
                   meta={"template": spec.name, "generated_at": timezone.now().isoformat(timespec="seconds"),
                         **date_range.as_dict()})
    if spec.kind == "audience_report":
        doc.add(*_audience(tenant, sections, charts))
        return doc
    if "kpis" in sections:
        doc.add(_kpis(scope, date_range, metrics))
    if "daily_trend" in sections and charts:
        doc.add(_daily(scope, date_range))
    if "platforms" in sections:
        blocks = _platforms(scope, date_range, metrics)
        doc.add(*(blocks if charts else blocks[:1]))
    if "attribution" in sections:
        doc.add(*_attribution(scope, date_range, charts))
    if "top_campaigns" in sections:
        doc.add(_campaign_table(SECTION_TITLES["top_campaigns"],
                                _campaigns(scope, date_range, metrics, limit=TOP_CAMPAIGNS), metrics))
    if "campaigns_table" in sections or "campaign_pages" in sections:
        data = _campaigns(scope, date_range, metrics)
        if "campaigns_table" in sections:
            doc.add(_campaign_table(SECTION_TITLES["campaigns_table"], data, metrics))
        if "campaign_pages" in sections:
            with_spend = [(c, v) for c, v in data if v["spend"] > 0][:MAX_CAMPAIGN_PAGES]
            doc.add(*_campaign_pages(scope, date_range, with_spend, metrics, charts))
    return doc

