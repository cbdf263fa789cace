"""The catalogue of alert types and their data sources, and the shape of an alert's configuration.

A data source (`dm_alert.alert_cplpv` style, the names Catalyst clients send) maps to one aggregation over
the daily metrics of the client's ad accounts (campaigns.metrics definitions) at a data level (ad, campaign
or ad account):

- ratio sources (cplpv, cpa, cpc, cpm, cpl, ctr, cvr, roas): the ratio over the lookback window, objects
  whose denominator is 0 (no landing-page views, no clicks…) are not evaluated;
- sum sources (spend, conversions): the total over the lookback window;
- change sources (spend_spike, conversion_drop): the last complete day against the daily average of the
  `lookback_days` days before it, in percent (a spike is the rise, a drop the fall; 0 baseline → skipped).

A condition compares the metric with a fixed `value`, or (`compare_to: account_average`) with the average of
the object's ad account: `greater_than` fires above average × (1 + value/100), `less_than` below
average × (1 − value/100).
"""
from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

RATIO, SUM, CHANGE = "ratio", "sum", "change"
OPERATORS = ("greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal")
COMPARE_TO = ("value", "account_average")
FREQUENCY_TYPES = ("hourly", "daily", "weekly")
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # crontab: 0 = Sunday


@dataclass(frozen=True)
class DataSource:
    name: str
    metric: str
    kind: str
    base: str | None = None  # change sources: the summed field compared with its baseline
    direction: int = 1  # change sources: +1 a rise, -1 a fall


@dataclass(frozen=True)
class AlertType:
    key: str
    name: str
    description: str
    data_source: str
    data_level: str
    operator: str
    value: float
    compare_to: str


DATA_SOURCES: dict[str, DataSource] = {ds.name: ds for ds in (
    *(DataSource(f"dm_alert.alert_{m}", m, RATIO) for m in ("cplpv", "cpa", "cpc", "cpm", "cpl", "ctr", "cvr", "roas")),
    DataSource("dm_alert.alert_spend", "spend", SUM),
    DataSource("dm_alert.alert_conversions", "conversions", SUM),
    DataSource("dm_alert.alert_spend_spike", "spend_spike", CHANGE, base="spend", direction=1),
    DataSource("dm_alert.alert_conversion_drop", "conversion_drop", CHANGE, base="conversions", direction=-1),
)}

_TYPES = (
    AlertType("cplpv", "High CPLPV", "Cost per landing-page view 50% above the account average.",
              "dm_alert.alert_cplpv", "ad", "greater_than", 50, "account_average"),
    AlertType("cpa", "High CPA", "Cost per acquisition 50% above the account average.",
              "dm_alert.alert_cpa", "campaign", "greater_than", 50, "account_average"),
    AlertType("cpc", "High CPC", "Cost per click 50% above the account average.",
              "dm_alert.alert_cpc", "ad", "greater_than", 50, "account_average"),
    AlertType("cpm", "High CPM", "Cost per thousand impressions 50% above the account average.",
              "dm_alert.alert_cpm", "campaign", "greater_than", 50, "account_average"),
    AlertType("cpl", "High cost per lead", "Cost per lead 50% above the account average.",
              "dm_alert.alert_cpl", "campaign", "greater_than", 50, "account_average"),
    AlertType("ctr", "Low CTR", "Click-through rate 50% below the account average.",
              "dm_alert.alert_ctr", "ad", "less_than", 50, "account_average"),
    AlertType("cvr", "Low conversion rate", "Conversion rate 50% below the account average.",
              "dm_alert.alert_cvr", "campaign", "less_than", 50, "account_average"),
    AlertType("roas", "Low ROAS", "Return on ad spend below 1.0 over the last 7 days.",
              "dm_alert.alert_roas", "campaign", "less_than", 1.0, "value"),
    AlertType("spend", "High spend", "Spend above 1,000 over the last 7 days.",
              "dm_alert.alert_spend", "campaign", "greater_than", 1000, "value"),
    AlertType("conversions", "Few conversions", "Fewer than 1 conversion over the last 7 days.",
              "dm_alert.alert_conversions", "campaign", "less_than", 1, "value"),
    AlertType("spend_spike", "Spend spike", "Yesterday's spend 50% above the daily average of the week before.",
              "dm_alert.alert_spend_spike", "campaign", "greater_than", 50, "value"),
    AlertType("conversion_drop", "Conversion drop",
              "Yesterday's conversions 50% below the daily average of the week before.",
              "dm_alert.alert_conversion_drop", "campaign", "greater_than", 50, "value"),
)
ALERT_TYPE_DEFS: dict[str, AlertType] = {t.key: t for t in _TYPES}
ALERT_TYPES = tuple(ALERT_TYPE_DEFS)
# Created for every new client (is_default), enabled, daily at DEFAULT_ALERT_TIME in the tenant's time zone.
DEFAULT_ALERT_TYPES = ("cplpv", "roas", "spend_spike", "conversion_drop")
DEFAULT_ALERT_TIME = "08:00"
DEFAULT_LOOKBACK_DAYS = 7
MAX_LOOKBACK_DAYS = 90


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_is_valid(name: str) -> bool:
    return isinstance(name, str) and name in _zones()


def is_greater(operator: str) -> bool:
    return operator.startswith("greater")


def compare(value: float, operator: str, threshold: float) -> bool:
    return {
        "greater_than": value > threshold,
        "greater_than_or_equal": value >= threshold,
        "less_than": value < threshold,
        "less_than_or_equal": value <= threshold,
    }[operator]


def threshold_for(condition: dict, average: float | None) -> float | None:
    """The number the metric is compared with (None: no average to compare with)."""
    value = float(condition["value"])
    if condition.get("compare_to", "value") == "value":
        return value
    if average is None:
        return None
    factor = 1 + value / 100 if is_greater(condition["operator"]) else 1 - value / 100
    return average * factor


def default_condition(alert_type: AlertType) -> dict:
    return {"field": DATA_SOURCES[alert_type.data_source].metric, "operator": alert_type.operator,
            "value": alert_type.value, "compare_to": alert_type.compare_to,
            "lookback_days": DEFAULT_LOOKBACK_DAYS, "min_spend": 0}


def default_frequency(timezone: str) -> dict:
    return {"type": "daily", "time": DEFAULT_ALERT_TIME, "timezone": timezone}


def crontab_fields(frequency: dict) -> dict[str, str]:
    """django-celery-beat CrontabSchedule fields for a frequency (in the frequency's time zone)."""
    hour, minute = (frequency.get("time") or "00:00").split(":")
    minute = str(int(minute))
    if frequency["type"] == "hourly":
        return {"minute": minute, "hour": "*", "day_of_week": "*"}
    day_of_week = "*"
    if frequency["type"] == "weekly":
        day_of_week = str(WEEKDAYS.index(frequency.get("day_of_week", "monday")))
    return {"minute": minute, "hour": str(int(hour)), "day_of_week": day_of_week}
