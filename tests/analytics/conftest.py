"""Fixtures: a frozen clock and builders for journeys (CDP events) and campaign daily metrics."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from campaigns.models import CampaignDailyMetric
from cdp.models import Event, Profile
from cdp.services.journeys import journeys_mark

# A Wednesday, 15:00 UTC (10:00 in New York).
NOW = dt.datetime(2026, 3, 18, 15, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def frozen(time_machine):
    """Every analytics test runs at NOW (set before tokens are issued, so JWTs are valid at NOW)."""
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def event(tenant, profile, kind: str, at: dt.datetime, properties: dict | None = None, revenue=None) -> Event:
    return Event(id=uuid.uuid4(), tenant=tenant, profile=profile, origin_profile_id=profile.pk, event_type=kind,
                 timestamp=at, properties=properties or {}, received_at=at,
                 revenue=None if revenue is None else Decimal(str(revenue)))


def events_stored(tenant, events) -> None:
    """Events written around ingestion (bulk_create): their profiles' attribution journeys marked stale, as
    ingestion does (the next attribution read, or a catch-up, folds them in)."""
    journeys_mark(tenant=tenant, since=dict.fromkeys({e.profile_id for e in events}))


class Journeys:
    """Builds profiles with touchpoints and conversions: `add([("email", days_before), ...], revenue=50)`."""

    def __init__(self, tenant, conversion_at: dt.datetime = NOW - dt.timedelta(days=2)):
        self.tenant = tenant
        self.conversion_at = conversion_at
        self.events: list[Event] = []

    def profile(self) -> Profile:
        return Profile.objects.unscoped().create(tenant=self.tenant, email=f"j{uuid.uuid4().hex[:10]}@shop.example")

    def add(self, touches, *, revenue=None, converted: bool = True, campaign: str = "", times: int = 1,
            at: dt.datetime | None = None):
        at = at or self.conversion_at
        for _ in range(times):
            profile = self.profile()
            for touch in touches:
                channel, days = touch[0], touch[1]
                name = touch[2] if len(touch) > 2 else campaign
                self.events.append(event(self.tenant, profile, "ad_click", at - dt.timedelta(days=days),
                                         {"channel": channel, "campaign": name} if name else {"channel": channel}))
            if converted:
                self.events.append(event(self.tenant, profile, "purchase", at, {"amount": revenue or 0},
                                         revenue=revenue if revenue is not None else 0))
        return self

    def save(self):
        Event.objects.unscoped().bulk_create(self.events)
        events_stored(self.tenant, self.events)
        self.events = []
        return self


@pytest.fixture
def journeys(tenant):
    return Journeys(tenant)


def daily_metrics(campaign, rows):
    """rows: [(date, spend, revenue, conversions, impressions, clicks)] → CampaignDailyMetric rows."""
    CampaignDailyMetric.objects.unscoped().bulk_create([
        CampaignDailyMetric(tenant_id=campaign.tenant_id, campaign=campaign, date=day,
                            spend=Decimal(str(round(spend, 2))),
                            revenue=Decimal(str(round(revenue, 2))), conversions=Decimal(str(conversions)),
                            impressions=impressions, clicks=clicks)
        for day, spend, revenue, conversions, impressions, clicks in rows])
