"""What every trust endpoint shares: the API-key scope (read:trust / write:trust), the plan feature of the
automation endpoints, query parameters."""
from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import OpenApiParameter

from campaigns.filters import DATE_PARAMETERS  # noqa: F401  (the same period/start_date/end_date parameters)
from campaigns.selectors.common import zone
from stratum.api.params import parse_date_range

UUID_PATH = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

AD_ACCOUNT_PARAMETER = OpenApiParameter("ad_account_id", str, description="One ad account (its id).")


class TrustEndpoint:
    scope_resource = "trust"
    lookup_value_regex = UUID_PATH  # a malformed id is a plain 404, like a missing one


class AutomationEndpoint(TrustEndpoint):
    """Autopilot and rules: the `autopilot` plan feature (403 FEATURE_NOT_AVAILABLE without it)."""

    required_feature = "autopilot"


def optional_time_range(params, *, tenant) -> tuple[dt.datetime, dt.datetime] | None:
    """[start, end) as aware datetimes in the tenant's time zone when period/start_date/end_date is given."""
    if not any(params.get(key) for key in ("period", "start_date", "end_date")):
        return None
    date_range = parse_date_range(params, tz=tenant.timezone)
    tz = zone(tenant.timezone)
    return (dt.datetime.combine(date_range.start, dt.time.min, tzinfo=tz),
            dt.datetime.combine(date_range.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz))
