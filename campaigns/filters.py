"""Query parameters of the campaign endpoints, parsed with the shared helpers (422 naming the parameter)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from stratum.api.params import DateRange, parse_choice, parse_choices, parse_date_range, parse_search, parse_uuid

from .models import CampaignStatus, Platform
from .selectors import ORDERINGS, CampaignFilters


def campaign_filters(params) -> CampaignFilters:
    return CampaignFilters(
        statuses=parse_choices(params, "status", CampaignStatus.values),
        platform=parse_choice(params, "platform", Platform.values),
        search=parse_search(params, "search"),
        ad_account_id=parse_uuid(params, "ad_account_id"),
        client_id=parse_uuid(params, "client_id"),
    )


def ordering(params, default: str) -> str:
    return parse_choice(params, "ordering", ORDERINGS, default=default)


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
CAMPAIGN_FILTER_PARAMETERS = [
    OpenApiParameter("status", str, description=f"One or more (comma-separated) of {', '.join(CampaignStatus.values)}; "
                                                "deleted campaigns are listed only when asked for."),
    PLATFORM_PARAMETER,
    OpenApiParameter("search", str, description="Part of the name (case-insensitive) or the platform id."),
    OpenApiParameter("ad_account_id", str), OpenApiParameter("client_id", str),
    OpenApiParameter("ordering", str, enum=list(ORDERINGS)),
]
PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1."),
    OpenApiParameter("limit", int, description="Items per page, 1–100 (default 20); above 100 is a 422."),
]
