"""The `demo` ad platform: a deterministic simulator, so the product runs end to end without credentials.

Everything is derived from seeded randomness (`random.Random(<string>)` is stable across processes):
the account's catalogue of campaigns and ads from the account's external id and its anchor day (the day
the account was connected), and each day's results from (account, campaign, ad, date). So any date range
can be generated on demand, a re-sync yields the same numbers, and "today" works on any day.

Behaviour it simulates:
- weekday seasonality (spend and conversion rate), small daily noise;
- diminishing returns: conversions grow with spend^0.65, so more budget buys dearer conversions;
- archetypes: budget-limited winners, steady campaigns, low-ROAS losers, under- and over-pacing campaigns,
  creative fatigue (CTR decaying with the ad's age), a paused campaign, a lifetime-budget flight;
- one account ("Cedar Home") has a data gap (four days with no data) and reports with a two-day delay;
- today's row is partial: the share of the day elapsed in the account's time zone.
Changes made through the connector (create, status, budget) are remembered in `DemoPlatformChange`
and apply from the moment they were made; history is never rewritten.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import phonenumbers
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from ..errors import ACCOUNT_NOT_FOUND, BUDGET_TOO_LOW, CAMPAIGN_DELETED, CAMPAIGN_NOT_FOUND, INVALID_STATUS
from ..models import DemoPlatformChange
from .base import (
    AccountRecord,
    AdPlatformConnector,
    AdRecord,
    AudienceMember,
    AudienceUploadResult,
    CampaignRecord,
    CampaignSpec,
    ConnectorError,
    ConnectorRejected,
    InsightRecord,
)

CENT = Decimal("0.01")
# Monday … Sunday
WEEKDAY_SPEND = (1.00, 1.02, 1.03, 1.02, 0.99, 0.96, 0.97)
WEEKDAY_CVR = (0.97, 1.00, 1.02, 1.00, 1.03, 1.08, 1.06)
RETURNS_EXPONENT = 0.35  # conversion rate falls as (reference spend / spend)^0.35 → conversions ∝ spend^0.65
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


@dataclass(frozen=True)
class DemoAccount:
    external_id: str
    name: str
    vertical: str  # ecommerce | leadgen | home
    timezone: str
    currency: str = "USD"
    gap_days: tuple[int, ...] = ()  # days before the anchor with no data
    report_lag_days: int = 0  # the newest days the platform has not reported yet


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("demo_101", "Northwind Apparel", "ecommerce", "America/New_York"),
    DemoAccount("demo_102", "Bluebird Software", "leadgen", "America/Los_Angeles"),
    DemoAccount("demo_103", "Cedar Home", "home", "Europe/London", gap_days=(22, 23, 24, 25), report_lag_days=2),
)

# name, archetype, objective, budget (daily unless the archetype is "flight")
CATALOGUES: dict[str, tuple[tuple[str, str, str, int], ...]] = {
    "ecommerce": (
        ("Summer Sale — Prospecting", "winner", "sales", 250),
        ("Retargeting — Cart Abandoners", "winner", "conversions", 120),
        ("Evergreen — Best Sellers", "steady", "sales", 300),
        ("New Arrivals — Broad", "loser", "sales", 180),
        ("Lookalike 1% — Purchasers", "underpacing", "conversions", 400),
        ("Brand Awareness — Video", "overpacing", "awareness", 150),
        ("Catalog — Dynamic Ads", "fatigue", "sales", 220),
        ("Holiday Teaser", "paused", "traffic", 90),
    ),
    "leadgen": (
        ("Free Trial — Search Intent", "winner", "leads", 200),
        ("Demo Requests — LinkedIn Lookalike", "steady", "leads", 260),
        ("Webinar Series — Q4", "flight", "leads", 9000),
        ("Ebook Download — Broad", "loser", "leads", 140),
        ("Competitor Conquesting", "overpacing", "leads", 180),
        ("Retargeting — Pricing Page", "steady", "conversions", 90),
        ("Case Study Carousel", "fatigue", "leads", 160),
        ("Partner Co-marketing", "underpacing", "leads", 220),
    ),
    "home": (
        ("Spring Refresh — Furniture", "steady", "sales", 280),
        ("Outdoor Living — Shopping", "winner", "sales", 180),
        ("Kitchen Remodel Leads", "steady", "leads", 150),
        ("Clearance — Broad", "loser", "sales", 110),
        ("Mattress Launch — Flight", "flight", "sales", 12000),
        ("Lighting — Retargeting", "underpacing", "conversions", 130),
        ("Rugs — Video Creative", "fatigue", "video_views", 100),
        ("Garden Centre — Local", "paused", "traffic", 70),
    ),
}

# archetype -> (pace: share of budget it tries to spend, target ROAS at the reference spend)
ARCHETYPES: dict[str, tuple[float, float]] = {
    "winner": (1.00, 5.2),
    "steady": (0.99, 3.0),
    "loser": (1.0, 0.65),
    "underpacing": (0.58, 2.6),
    "overpacing": (1.38, 2.2),
    "fatigue": (0.98, 3.4),
    "paused": (0.90, 2.4),
    "flight": (1.0, 2.8),
    "created": (0.90, 2.5),
}
CREATIVES = (("image", "Shop the collection"), ("video", "See it in action"), ("carousel", "Pick your favourite"),
             ("image", "Limited time offer"), ("video", "Customers love it"), ("carousel", "New this season"))


@dataclass
class SimAd:
    external_id: str
    name: str
    launch: dt.date
    creative_type: str
    headline: str
    weight: float
    ctr_multiplier: float
    fatigue_days: float | None  # e-folding time of the CTR decay; None: no visible fatigue


@dataclass
class SimCampaign:
    external_id: str
    name: str
    archetype: str
    objective: str
    budget_type: str
    budget: Decimal
    start: dt.date
    end: dt.date | None
    cpm: float
    ctr: float
    cvr: float
    order_value: float
    ads: list[SimAd] = field(default_factory=list)
    # status timeline: (moment, status), sorted; the first entry is the campaign's start
    timeline: list[tuple[dt.datetime, str]] = field(default_factory=list)
    budgets: list[tuple[dt.datetime, Decimal]] = field(default_factory=list)
    targeting: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.timeline[-1][1]

    def budget_on(self, day_end: dt.datetime) -> Decimal:
        amount = self.budgets[0][1]
        for moment, value in self.budgets:
            if moment <= day_end:
                amount = value
        return amount


def money(value: float) -> Decimal:
    return Decimal(str(max(value, 0.0))).quantize(CENT, rounding=ROUND_HALF_UP)


def stochastic_round(value: float, rng: random.Random) -> int:
    """Rounds up with probability equal to the fraction, so small expected counts are right on average."""
    whole = math.floor(value)
    return whole + (1 if rng.random() < value - whole else 0)


def demo_account(external_id: str, timezone_name: str = "UTC") -> DemoAccount:
    for account in DEMO_ACCOUNTS:
        if account.external_id == external_id:
            return account
    rng = random.Random(f"account:{external_id}")
    vertical = rng.choice(sorted(CATALOGUES))
    return DemoAccount(external_id, f"Demo account {external_id}", vertical, timezone_name)


class DemoConnector(AdPlatformConnector):
    platform = "demo"
    supports_audiences = True

    def __init__(self, ad_account=None):
        super().__init__(ad_account)
        self.objectives = self.rules.objectives
        self.min_daily_budget = self.rules.min_daily_budget
        self._catalogue: dict[str, SimCampaign] | None = None

    # --- the account ----------------------------------------------------------------------------

    @property
    def zone(self) -> dt.tzinfo:
        try:
            return zoneinfo.ZoneInfo(getattr(self.ad_account, "timezone", None) or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return dt.UTC

    @property
    def account(self) -> DemoAccount:
        return demo_account(self.ad_account.external_id, getattr(self.ad_account, "timezone", "UTC"))

    @property
    def anchor(self) -> dt.date:
        """The day the account was connected: the catalogue is laid out around it, so it never shifts."""
        created = getattr(self.ad_account, "created_at", None) or timezone.now()
        return created.astimezone(self.zone).date()

    def _check(self, account_id: str) -> None:
        if self.ad_account is None or account_id != self.ad_account.external_id:
            raise ConnectorError(f"Unknown demo ad account {account_id!r}.", code=ACCOUNT_NOT_FOUND)

    def _local_midnight(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, tzinfo=self.zone)

    # --- the catalogue (seeded) + changes made through the connector ----------------------------

    def campaigns(self) -> dict[str, SimCampaign]:
        if self._catalogue is None:
            self._catalogue = self._build_catalogue()
        return self._catalogue

    def _build_catalogue(self) -> dict[str, SimCampaign]:
        account, anchor = self.account, self.anchor
        rng = random.Random(f"catalogue:{account.external_id}:{anchor.isoformat()}")
        campaigns: dict[str, SimCampaign] = {}
        for index, (name, archetype, objective, budget) in enumerate(CATALOGUES[account.vertical]):
            external_id = f"{account.external_id}_c{index + 1:02d}"
            start = anchor - dt.timedelta(days=rng.randint(100, 200))
            end = None
            budget_type = "daily"
            if archetype == "flight":
                start, end, budget_type = anchor - dt.timedelta(days=20), anchor + dt.timedelta(days=39), "lifetime"
            campaign = self._sim_campaign(rng, external_id, name, archetype, objective, budget_type, Decimal(budget),
                                          start, end, account.vertical)
            if archetype == "paused":
                campaign.timeline.append((self._local_midnight(anchor - dt.timedelta(days=20)), "paused"))
            campaigns[external_id] = campaign
        self._apply_changes(campaigns)
        return campaigns

    def _sim_campaign(self, rng: random.Random, external_id: str, name: str, archetype: str, objective: str,
                      budget_type: str, budget: Decimal, start: dt.date, end: dt.date | None,
                      vertical: str, *, ads: int | None = None) -> SimCampaign:
        pace, target_roas = ARCHETYPES[archetype]
        cpm = rng.uniform(7.0, 16.0)
        ctr = rng.uniform(0.9, 2.2) / 100
        order_value = {"ecommerce": rng.uniform(60, 110), "leadgen": rng.uniform(35, 70),
                       "home": rng.uniform(140, 260)}[vertical]
        # Conversion rate that yields the archetype's ROAS at its reference spend: revenue/spend =
        # (1000/cpm · ctr · cvr · order_value).
        cvr = target_roas * cpm / (1000 * ctr * order_value)
        campaign = SimCampaign(external_id, name, archetype, objective, budget_type, budget, start, end, cpm, ctr, cvr,
                               order_value, timeline=[(self._local_midnight(start), "active")],
                               budgets=[(self._local_midnight(start), budget)],
                               targeting={"locations": ["US"], "age_min": 18, "age_max": 65})
        count = ads if ads is not None else rng.randint(3, 5)
        for n in range(count):
            creative_type, headline = CREATIVES[(n + rng.randint(0, 5)) % len(CREATIVES)]
            fatigued = archetype == "fatigue" and n < 2
            launch = start if archetype == "created" or n == 0 else start + dt.timedelta(days=rng.randint(0, 10))
            if fatigued:
                launch = self.anchor - dt.timedelta(days=35 + n * 4)
            campaign.ads.append(SimAd(
                external_id=f"{external_id}_a{n + 1}", name=f"{name.split(' — ')[0]} — {creative_type} {n + 1}",
                launch=launch, creative_type=creative_type, headline=headline,
                weight=rng.uniform(0.6, 1.4) * (2.5 if fatigued else 1.0), ctr_multiplier=rng.uniform(0.8, 1.25),
                fatigue_days=22.0 if fatigued else None,
            ))
        return campaign

    def _apply_changes(self, campaigns: dict[str, SimCampaign]) -> None:
        if getattr(self.ad_account, "pk", None) is None:
            return
        changes = DemoPlatformChange.objects.for_tenant(self.ad_account.tenant_id).filter(
            ad_account_id=self.ad_account.pk).annotate(
            created_first=Case(When(kind="created", then=Value(0)), default=Value(1), output_field=IntegerField()),
        ).order_by("created_at", "created_first", "id")
        for change in changes:
            at = dt.datetime.fromisoformat(change.value["at"]).astimezone(self.zone)
            if change.kind == "created":
                spec = change.value
                rng = random.Random(f"created:{change.campaign_external_id}")
                start = dt.date.fromisoformat(spec["start_date"]) if spec.get("start_date") else at.date()
                end = dt.date.fromisoformat(spec["end_date"]) if spec.get("end_date") else None
                campaign = self._sim_campaign(rng, change.campaign_external_id, spec["name"], "created",
                                              spec["objective"], spec["budget_type"], Decimal(spec["budget_amount"]),
                                              start, end, self.account.vertical, ads=2)
                campaign.timeline = [(at, spec.get("status", "paused"))]
                campaign.budgets = [(at, Decimal(spec["budget_amount"]))]
                campaign.targeting = spec.get("targeting") or {}
                campaigns[change.campaign_external_id] = campaign
            elif change.campaign_external_id in campaigns:
                campaign = campaigns[change.campaign_external_id]
                if change.kind == "status":
                    campaign.timeline.append((at, change.value["status"]))
                elif change.kind == "budget":
                    campaign.budgets.append((at, Decimal(change.value["amount"])))

    def _campaign(self, campaign_id: str) -> SimCampaign:
        campaign = self.campaigns().get(campaign_id)
        if campaign is None:
            raise ConnectorRejected(f"Campaign {campaign_id!r} does not exist on this account.",
                                    code=CAMPAIGN_NOT_FOUND)
        return campaign

    # --- reads ---------------------------------------------------------------------------------

    def list_accounts(self) -> list[AccountRecord]:
        return [AccountRecord(a.external_id, a.name, a.currency, a.timezone) for a in DEMO_ACCOUNTS]

    def list_campaigns(self, account_id: str) -> list[CampaignRecord]:
        self._check(account_id)
        return [CampaignRecord(
            external_id=c.external_id, name=c.name, status=c.status, objective=c.objective,
            budget_type=c.budget_type, budget_amount=c.budgets[-1][1], start_date=c.start, end_date=c.end,
            targeting=dict(c.targeting),
        ) for c in self.campaigns().values()]

    def list_ads(self, account_id: str) -> list[AdRecord]:
        self._check(account_id)
        return [AdRecord(
            external_id=ad.external_id, campaign_external_id=c.external_id, name=ad.name,
            status="deleted" if c.status == "deleted" else "active", creative_type=ad.creative_type,
            headline=ad.headline, primary_text=f"{ad.headline} — {c.name}.",
            creative_url=(f"https://demo.stratum.local/creatives/{ad.external_id}."
                          f"{'mp4' if ad.creative_type == 'video' else 'jpg'}"),
        ) for c in self.campaigns().values() for ad in c.ads]

    def daily_insights(self, account_id: str, start: dt.date, end: dt.date) -> Iterator[InsightRecord]:
        self._check(account_id)
        account, now = self.account, timezone.now().astimezone(self.zone)
        today = now.date()
        reported_until = min(end, today - dt.timedelta(days=account.report_lag_days))
        gaps = {self.anchor - dt.timedelta(days=n) for n in account.gap_days}
        day = start
        while day <= reported_until:
            if day not in gaps:
                for campaign in self.campaigns().values():
                    yield from self._campaign_day(campaign, day, now)
            day += dt.timedelta(days=1)

    def _active_share(self, campaign: SimCampaign, day: dt.date, now: dt.datetime) -> float:
        """Share of the day (up to now) the campaign was active: 0 … 1."""
        day_start = self._local_midnight(day)
        day_end = min(day_start + dt.timedelta(days=1), now)
        if day_end <= day_start:
            return 0.0
        active_seconds = 0.0
        for index, (moment, status) in enumerate(campaign.timeline):
            until = campaign.timeline[index + 1][0] if index + 1 < len(campaign.timeline) else day_end
            lo, hi = max(moment, day_start), min(until, day_end)
            if status == "active" and hi > lo:
                active_seconds += (hi - lo).total_seconds()
        return active_seconds / 86400

    def _campaign_day(self, campaign: SimCampaign, day: dt.date, now: dt.datetime) -> list[InsightRecord]:
        if day < campaign.start or (campaign.end and day > campaign.end):
            return []
        share = self._active_share(campaign, day, now)
        ads = [ad for ad in campaign.ads if ad.launch <= day]
        if share <= 0 or not ads:
            return []
        rng = random.Random(f"day:{campaign.external_id}:{day.isoformat()}")
        pace, _ = ARCHETYPES[campaign.archetype]
        budget = float(campaign.budget_on(self._local_midnight(day) + dt.timedelta(days=1)))
        if campaign.budget_type == "lifetime":
            flight_days = ((campaign.end or day) - campaign.start).days + 1
            daily_budget = budget / max(flight_days, 1)
        else:
            daily_budget = budget
        reference = float(campaign.budgets[0][1]) / (((campaign.end or day) - campaign.start).days + 1
                                                      if campaign.budget_type == "lifetime" else 1)
        spend = daily_budget * pace * WEEKDAY_SPEND[day.weekday()] * rng.gauss(1.0, 0.04)
        if campaign.archetype == "winner":  # budget-limited: it would spend more, the budget stops it
            spend = daily_budget * rng.uniform(0.975, 1.0)
        spend = min(spend, daily_budget * self.rules.daily_overdelivery) * share
        weights = [ad.weight * rng.uniform(0.85, 1.15) for ad in ads]
        total_weight = sum(weights)
        rows: list[InsightRecord] = []
        totals = dict(impressions=0, clicks=0, spend=Decimal("0"), conversions=Decimal("0"), revenue=Decimal("0"),
                      landing_page_views=0, leads=0)
        for ad, weight in zip(ads, weights, strict=False):
            ad_spend = money(spend * weight / total_weight)
            if ad_spend <= 0:
                continue
            ad_rng = random.Random(f"ad:{ad.external_id}:{day.isoformat()}")
            cpm = campaign.cpm * ad_rng.uniform(0.9, 1.1) * (1.06 if day.weekday() >= 5 else 1.0)
            impressions = int(float(ad_spend) / cpm * 1000)
            ctr = campaign.ctr * ad.ctr_multiplier * ad_rng.uniform(0.9, 1.1)
            if ad.fatigue_days:
                ctr *= 0.3 + 0.7 * math.exp(-(day - ad.launch).days / ad.fatigue_days)
            clicks = min(impressions, stochastic_round(impressions * ctr, ad_rng))
            ad_reference = reference * ad.weight / sum(a.weight for a in ads)
            returns = (ad_reference / max(float(ad_spend) / share, 0.01)) ** RETURNS_EXPONENT
            cvr = min(campaign.cvr * WEEKDAY_CVR[day.weekday()] * returns * ad_rng.uniform(0.85, 1.15), 0.6)
            conversions = min(clicks, stochastic_round(clicks * cvr, ad_rng))
            revenue = money(conversions * campaign.order_value * ad_rng.uniform(0.85, 1.15))
            leads = conversions if campaign.objective == "leads" else int(round(conversions * 0.3))
            lpv = int(round(clicks * ad_rng.uniform(0.7, 0.86)))
            row = InsightRecord(date=day, campaign_external_id=campaign.external_id, ad_external_id=ad.external_id,
                                impressions=impressions, clicks=clicks, spend=ad_spend,
                                conversions=Decimal(conversions), revenue=revenue, landing_page_views=lpv, leads=leads)
            rows.append(row)
            for key in totals:
                totals[key] += getattr(row, key)
        if rows:
            rows.append(InsightRecord(date=day, campaign_external_id=campaign.external_id, ad_external_id=None,
                                      **totals))
        return rows

    # --- writes --------------------------------------------------------------------------------

    def _record(self, campaign_id: str, kind: str, value: dict) -> None:
        now = timezone.now()
        DemoPlatformChange.objects.for_tenant(self.ad_account.tenant_id).create(
            tenant_id=self.ad_account.tenant_id, ad_account=self.ad_account, campaign_external_id=campaign_id,
            kind=kind, value={**value, "at": now.isoformat()}, effective_date=now.astimezone(self.zone).date())
        self._catalogue = None

    def create_campaign(self, account_id: str, spec: CampaignSpec) -> CampaignRecord:
        self._check(account_id)
        self._check_budget(spec.budget_type, spec.budget_amount)
        created = DemoPlatformChange.objects.for_tenant(self.ad_account.tenant_id).filter(
            ad_account_id=self.ad_account.pk, kind="created").count()
        external_id = f"{account_id}_n{created + 1:03d}"
        self._record(external_id, "created", {
            "name": spec.name, "objective": spec.objective, "budget_type": spec.budget_type,
            "budget_amount": str(spec.budget_amount), "status": spec.status, "targeting": spec.targeting,
            "start_date": spec.start_date.isoformat() if spec.start_date else None,
            "end_date": spec.end_date.isoformat() if spec.end_date else None,
        })
        return next(c for c in self.list_campaigns(account_id) if c.external_id == external_id)

    def update_campaign_status(self, account_id: str, campaign_id: str, status: str) -> None:
        self._check(account_id)
        campaign = self._campaign(campaign_id)
        if campaign.status == "deleted":
            raise ConnectorRejected("The campaign is deleted on the platform.", code=CAMPAIGN_DELETED)
        if status not in ("active", "paused", "deleted"):
            raise ConnectorRejected(f"Status {status!r} cannot be set.", code=INVALID_STATUS)
        if status != campaign.status:
            self._record(campaign_id, "status", {"status": status})

    def update_campaign_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        self._check(account_id)
        campaign = self._campaign(campaign_id)
        if campaign.status == "deleted":
            raise ConnectorRejected("The campaign is deleted on the platform.", code=CAMPAIGN_DELETED)
        self._check_budget(campaign.budget_type, amount)
        if amount != campaign.budgets[-1][1]:
            self._record(campaign_id, "budget", {"amount": str(amount)})

    def _check_budget(self, budget_type: str, amount: Decimal) -> None:
        minimum = self.rules.min_lifetime_budget if budget_type == "lifetime" else self.rules.min_daily_budget
        if amount < minimum:
            raise ConnectorRejected(f"The {budget_type} budget must be at least {minimum}.", code=BUDGET_TOO_LOW)

    # --- audiences -----------------------------------------------------------------------------

    def match_rate(self) -> float:
        """This account's share of well-formed records the platform recognises (60–75 %)."""
        return random.Random(f"match:{self.ad_account.external_id}").uniform(0.60, 0.75)

    def create_audience(self, account_id: str, *, name: str, key: str) -> str:
        """The simulated platform keeps no audiences: the id follows from the key, so creating twice gives one."""
        self._check(account_id)
        return f"demo_aud_{hashlib.sha256(f'{account_id}:{key}'.encode()).hexdigest()[:12]}"

    def upload_audience(self, account_id: str, *, audience_external_id: str | None, name: str,
                        add: list[AudienceMember], remove: list[AudienceMember]) -> AudienceUploadResult:
        self._check(account_id)
        if audience_external_id is None:
            digest = hashlib.sha256(f"{account_id}:{name}".encode()).hexdigest()[:12]
            audience_external_id = f"demo_aud_{digest}"
        rate = self.match_rate()
        matched = invalid = removed = 0
        for member in add:
            keys = identifiers(member)
            if not keys:
                invalid += 1
            elif any(self._matches(key, rate) for key in keys):
                matched += 1
        for member in remove:
            keys = identifiers(member)
            if keys and any(self._matches(key, rate) for key in keys):
                removed += 1
        return AudienceUploadResult(audience_external_id=audience_external_id, received=len(add), matched=matched,
                                    removed=removed, invalid=invalid)

    def _matches(self, key: str, rate: float) -> bool:
        digest = hashlib.sha256(f"{self.ad_account.external_id}:{key}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < rate


def identifiers(member: AudienceMember) -> list[str]:
    """Normalised, matchable identifiers of one record: a well-formed e-mail and/or an E.164 phone."""
    keys = []
    email = (member.email or "").strip().lower()
    if email and EMAIL_RE.match(email):
        keys.append(f"email:{email}")
    if member.phone:
        try:
            number = phonenumbers.parse(member.phone, None)
            if phonenumbers.is_valid_number(number):
                keys.append("phone:" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        except phonenumbers.NumberParseException:
            pass
    if not keys:  # an erased person, known only by the hashes a platform receives
        keys = [f"{kind}#{value}" for kind, value in (("email", member.email_sha256), ("phone", member.phone_sha256))
                if value]
    return keys


