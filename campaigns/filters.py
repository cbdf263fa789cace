"""Query parameters of the campaign endpoints: the list filters as a FilterSet (stratum.api.filters), the date range
with the shared helper (422 naming the parameter either way)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from stratum.api.filters import CharFilter, ChoiceFilter, ChoiceInFilter, FilterSet, UUIDFilter
from stratum.api.params import DateRange, parse_date_range

from .models import AdAccount, Campaign, CampaignStatus, Platform
from .selectors import ORDERINGS, CampaignFilters
from .selectors.pacing import STATUSES as PACING_STATUSES


class CampaignFilterSet(FilterSet):
    status = ChoiceInFilter(choices=CampaignStatus.choices,
                            help_text="One or more (comma-separated); deleted campaigns are listed only when asked for.")
    platform = ChoiceFilter(choices=Platform.choices)
    search = CharFilter(max_length=200, help_text="Part of the name (case-insensitive) or the platform id.")
    ad_account_id = UUIDFilter()
    client_id = UUIDFilter(help_text="Campaigns of this client's linked ad accounts.")
    ordering = ChoiceFilter(choices=[(name, name) for name in ORDERINGS],
                            help_text="A field or metric, `-` first for descending (default: -created_at on the "
                                      "campaign list, -spend in analytics).")

    class Meta:
        model = Campaign
        fields: list[str] = []


class AdAccountFilterSet(FilterSet):
    platform = ChoiceFilter(choices=Platform.choices)

    class Meta:
        model = AdAccount
        fields: list[str] = []


class PacingFilterSet(FilterSet):
    status = ChoiceFilter(choices=[(name, name) for name in PACING_STATUSES],
                          help_text="Only campaigns with this pacing status.")

    class Meta:
        model = Campaign
        fields: list[str] = []


class PacingAlertFilterSet(FilterSet):
    severity = ChoiceFilter(choices=[("warning", "warning"), ("critical", "critical")])
    type = ChoiceFilter(choices=[("underpacing", "underpacing"), ("overpacing", "overpacing")])

    class Meta:
        model = Campaign
        fields: list[str] = []


def campaign_filters(params, *, default_ordering: str) -> tuple[CampaignFilters, str]:
    """The filters of a campaign list and its ordering."""
    values = CampaignFilterSet.parse(params)
    filters = CampaignFilters(statuses=values["status"], platform=values["platform"], search=values["search"],
                              ad_account_id=values["ad_account_id"], client_id=values["client_id"])
    return filters, values["ordering"] or default_ordering


def optional_range(params, *, tz: str) -> DateRange | None:
    """A date range only when one is asked for (the campaign list shows lifetime figures by default)."""
    if not any(params.get(name) for name in ("period", "start_date", "end_date")):
        return None
    return parse_date_range(params, tz=tz)


DATE_PARAMETERS = [
    OpenApiParameter("period", str, description="7d, 30d or 90d (1–730 days) ending today in the tenant's time zone; "
                                                "exclusive with start_date/end_date."),
    OpenApiParameter("start_date", str, description="YYYY-MM-DD, inclusive."),
    OpenApiParameter("end_date", str, description="YYYY-MM-DD, inclusive; not before start_date."),
]
PLATFORM_PARAMETER = OpenApiParameter("platform", str, enum=list(Platform.values))
PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1."),
    OpenApiParameter("limit", int, description="Items per page, 1–100 (default 20); above 100 is a 422."),
]
