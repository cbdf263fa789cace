"""Query-parameter parsing shared by every app. Bad values raise 422 VALIDATION_ERROR naming the parameter.

Date ranges: `period=Nd` (1 ≤ N ≤ 730; the spec's `7d`, `30d`, `90d`) means the N days ending today in the
tenant's time zone, today included; or `start_date`/`end_date` (YYYY-MM-DD, both inclusive). `period` and
explicit dates are mutually exclusive.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from .exceptions import ValidationFailed

PERIOD_RE = re.compile(r"^(\d{1,3})d$")
MAX_PERIOD_DAYS = 730


def _fail(name: str, message: str):
    raise ValidationFailed(errors={name: [message]})


def _raw(params, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def local_today(tz: str | None) -> dt.date:
    """Today's date in an IANA time zone (UTC when unknown)."""
    try:
        zone = zoneinfo.ZoneInfo(tz or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return timezone.now().astimezone(zone).date()


def parse_date(params, name: str, *, required: bool = False) -> dt.date | None:
    raw = _raw(params, name)
    if raw is None:
        if required:
            _fail(name, "This parameter is required (YYYY-MM-DD).")
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        _fail(name, f"Not a date (YYYY-MM-DD): {raw[:40]!r}.")


def parse_period_days(raw: str, *, name: str = "period", max_days: int = MAX_PERIOD_DAYS) -> int:
    match = PERIOD_RE.fullmatch(raw)
    if not match or not 1 <= int(match.group(1)) <= max_days:
        _fail(name, f"Must look like 7d, 30d or 90d (1 to {max_days} days), got {raw[:40]!r}.")
    return int(match.group(1))


@dataclass(frozen=True)
class DateRange:
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> DateRange:
        """The range of the same length right before this one (period-over-period comparisons)."""
        length = dt.timedelta(days=self.days)
        return DateRange(self.start - length, self.end - length)

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    def as_dict(self) -> dict[str, str]:
        return {"start_date": self.start.isoformat(), "end_date": self.end.isoformat()}


def parse_date_range(params, *, tz: str | None = "UTC", default_days: int = 30,
                     max_days: int = MAX_PERIOD_DAYS, allow_period: bool = True) -> DateRange:
    """`period=Nd` or `start_date`/`end_date`; defaults to the last `default_days` days."""
    start = parse_date(params, "start_date")
    end = parse_date(params, "end_date")
    period = _raw(params, "period") if allow_period else None
    today = local_today(tz)
    if period is not None:
        if start or end:
            _fail("period", "Give either period or start_date/end_date, not both.")
        days = parse_period_days(period, max_days=max_days)
        return DateRange(today - dt.timedelta(days=days - 1), today)
    if start is None and end is None:
        return DateRange(today - dt.timedelta(days=default_days - 1), today)
    if end is None:
        end = max(today, start)
    if start is None:
        start = end - dt.timedelta(days=default_days - 1)
    if start > end:
        _fail("start_date", "start_date must not be after end_date.")
    if start > today:  # nothing can have happened yet: an empty answer would look like a real zero
        _fail("start_date", f"The range lies wholly in the future (today is {today.isoformat()}).")
    if (end - start).days + 1 > max_days:
        _fail("end_date", f"The range may span at most {max_days} days.")
    return DateRange(start, end)


def parse_choice(params, name: str, choices: Iterable[str], *, default: str | None = None) -> str | None:
    raw = _raw(params, name)
    if raw is None:
        return default
    choices = tuple(choices)
    if raw not in choices:
        _fail(name, f"Must be one of {', '.join(choices)}; got {raw[:40]!r}.")
    return raw


def parse_choices(params, name: str, choices: Iterable[str]) -> list[str]:
    """A comma-separated list (`status=active,paused`), each value from `choices`."""
    raw = _raw(params, name)
    if raw is None:
        return []
    choices = tuple(choices)
    values = [v.strip() for v in raw.split(",") if v.strip()]
    bad = [v for v in values if v not in choices]
    if bad:
        _fail(name, f"Must be among {', '.join(choices)}; got {bad[0][:40]!r}.")
    return values


def parse_bool(params, name: str, *, default: bool | None = None) -> bool | None:
    raw = _raw(params, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    _fail(name, f"Must be true or false, got {raw[:40]!r}.")


def parse_uuid(params, name: str, *, required: bool = False) -> uuid.UUID | None:
    raw = _raw(params, name)
    if raw is None:
        if required:
            _fail(name, "This parameter is required.")
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        _fail(name, f"Not a valid id: {raw[:40]!r}.")


def parse_number(params, name: str, *, minimum: float | None = None, maximum: float | None = None,
                 default: float | None = None) -> float | None:
    raw = _raw(params, name)
    if raw is None:
        return default
    try:
        value = Decimal(raw)
        if not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        _fail(name, f"Not a number: {raw[:40]!r}.")
    if minimum is not None and value < Decimal(str(minimum)):
        _fail(name, f"Must be at least {minimum}.")
    if maximum is not None and value > Decimal(str(maximum)):
        _fail(name, f"Must be at most {maximum}.")
    return float(value)


def parse_search(params, name: str = "search", *, max_length: int = 200) -> str | None:
    raw = _raw(params, name)
    if raw is None:
        return None
    if len(raw) > max_length:
        _fail(name, f"At most {max_length} characters.")
    return raw
