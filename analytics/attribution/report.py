"""`GET /analytics/attribution`: one model's credit per channel and per campaign, summing to the observed totals."""
from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q

from campaigns.metrics import metric_sums, money
from campaigns.models import Campaign, CampaignDailyMetric
from campaigns.selectors.common import zone
from stratum.api.exceptions import ValidationFailed
from stratum.api.params import DateRange

from . import engine, markov
from .journeys import Journeys, journeys_aggregate

MIN_CONVERSIONS = {"data_driven": 30, "shapley": 30}
DEFAULT_LOOKBACK_DAYS = 30
MAX_LOOKBACK_DAYS = 90
DEFAULT_HALF_LIFE_DAYS = 7.0


@dataclass(frozen=True)
class AttributionQuery:
    date_range: DateRange
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    order: int = 1
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    conversion_events: tuple[str, ...] = ("purchase",)

    def as_dict(self) -> dict:
        return {**self.date_range.as_dict(), "lookback_days": self.lookback_days, "order": self.order,
                "half_life_days": self.half_life_days, "conversion_events": list(self.conversion_events)}


@dataclass
class Loaded:
    query: AttributionQuery
    journeys: Journeys
    prepared: engine.PreparedPaths
    campaigns: dict[str, dict] = field(default_factory=dict)


def journeys_load(*, tenant, query: AttributionQuery, with_decay: bool) -> Loaded:
    tz = zone(tenant.timezone)
    start = dt.datetime.combine(query.date_range.start, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(query.date_range.end + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    journeys = journeys_aggregate(tenant=tenant, start=start, end=end, lookback=dt.timedelta(days=query.lookback_days),
                                  conversion_events=list(query.conversion_events),
                                  half_life=dt.timedelta(days=query.half_life_days) if with_decay else None)
    return Loaded(query=query, journeys=journeys, prepared=engine.prepare(journeys, order=query.order))


def round_to_total(values, total: float, decimals: int = 2) -> list[float]:
    """Rounds so the rounded values add up to the rounded total exactly (largest remainder)."""
    scale = 10 ** decimals
    target = round(total * scale)
    scaled = [v * scale for v in values]
    floors = [math.floor(v) for v in scaled]
    remainder = target - sum(floors)
    order = sorted(range(len(values)), key=lambda i: scaled[i] - floors[i], reverse=True)
    for i in order[:max(0, remainder)]:
        floors[i] += 1
    return [f / scale for f in floors]


def totals_of(journeys: Journeys) -> dict:
    converting = float(journeys.conversions.sum())
    return {"conversions": round(converting, 2), "revenue": money(journeys.total_revenue),
            "journeys": int(journeys.total_journeys), "converting_journeys": int(converting),
            "non_converting_journeys": int(journeys.nulls.sum()), "distinct_paths": len(journeys.paths),
            "channels": len({c for c, _ in journeys.touchpoints})}


def insufficient_reason(journeys: Journeys, model: str) -> str | None:
    needed = MIN_CONVERSIONS.get(model, 1)
    have = journeys.total_conversions
    if have < needed:
        return (f"The {model} model needs at least {needed} conversion{'s' if needed > 1 else ''} in the period; "
                f"found {int(have)}.")
    return None


def unavailable_reason(journeys: Journeys, model: str) -> str | None:
    """Why the model cannot run on these journeys at all (not a matter of more data)."""
    channels = len({c for c, _ in journeys.touchpoints})
    if model == "shapley" and channels > markov.MAX_SHAPLEY_CHANNELS:
        return (f"Exact Shapley values are computed for at most {markov.MAX_SHAPLEY_CHANNELS} channels; the period "
                f"has {channels}. Use data_driven, or a shorter period.")
    return None


def _campaign_index(*, tenant, names: set[str]) -> dict[str, dict]:
    """Campaign names (or ids) seen in touchpoints → the tenant's campaign, when exactly one matches."""
    if not names:
        return {}
    ids = set()
    for name in names:
        try:
            ids.add(uuid.UUID(name))
        except ValueError:
            continue
    rows = Campaign.objects.for_tenant(tenant).filter(Q(name__in=names) | Q(pk__in=ids)).values("pk", "name")
    matches: dict[str, list] = {}
    for row in rows:
        for key in (row["name"], str(row["pk"])):
            if key in names:
                matches.setdefault(key, []).append(row)
    return {key: rows[0] for key, rows in matches.items() if len(rows) == 1}


def _spend(*, tenant, campaign_ids: list, date_range: DateRange) -> dict:
    if not campaign_ids:
        return {}
    rows = (CampaignDailyMetric.objects.for_tenant(tenant)
            .filter(campaign_id__in=campaign_ids, date__range=(date_range.start, date_range.end))
            .values("campaign_id").annotate(**metric_sums(fields=("spend",), suffix="_sum")))
    return {r["campaign_id"]: r["spend_sum"] for r in rows}


def credit_tables(*, tenant, loaded: Loaded, credit: engine.Credit) -> tuple[list[dict], list[dict]]:
    """Channel and campaign rows (largest first), each list rounded to sum to the observed totals."""
    prepared, journeys = loaded.prepared, loaded.journeys
    total_conv, total_rev = journeys.total_conversions, journeys.total_revenue
    channel_conv = engine.by_channel(prepared, credit.conversions)
    channel_rev = engine.by_channel(prepared, credit.revenue)
    channels = []
    for i, name in enumerate(prepared.channels):
        row = {"channel": name, "conv": channel_conv[i], "rev": channel_rev[i]}
        for key in ("removal_effect", "removal_effect_value", "shapley_value"):
            if key in credit.channel_details:
                row[key] = round(float(credit.channel_details[key][i]), 6)
        channels.append(row)
    by_campaign: dict[str, dict] = {}
    for t, (channel, campaign) in enumerate(journeys.touchpoints):  # direct conversions: the no-campaign row
        entry = by_campaign.setdefault(campaign, {"campaign": campaign or None, "channels": set(), "conv": 0.0,
                                                  "rev": 0.0})
        entry["channels"].add(channel)
        entry["conv"] += float(credit.conversions[t])
        entry["rev"] += float(credit.revenue[t])
    campaign_rows = list(by_campaign.values())
    known = _campaign_index(tenant=tenant, names={c["campaign"] for c in campaign_rows if c["campaign"]})
    spend = _spend(tenant=tenant, campaign_ids=[m["pk"] for m in known.values()], date_range=loaded.query.date_range)
    for rows in (channels, campaign_rows):  # every touchpoint is in both lists: each sums to the observed totals
        for row, conv, rev in zip(rows, round_to_total([r["conv"] for r in rows], total_conv),
                                  round_to_total([r["rev"] for r in rows], total_rev), strict=False):
            row["attributed_conversions"] = conv
            row["attributed_revenue"] = rev
            row["conversion_share"] = round(float(row["conv"]) / total_conv, 4) if total_conv else 0.0
            row["revenue_share"] = round(float(row["rev"]) / total_rev, 4) if total_rev else 0.0
    for row in campaign_rows:
        match = known.get(row["campaign"] or "")
        row["campaign_id"] = str(match["pk"]) if match else None
        row["channels"] = sorted(row["channels"])
        cost = spend.get(match["pk"]) if match else None
        row["spend"] = money(cost) if cost is not None else None
        row["attributed_roas"] = (round(row["rev"] / float(cost), 2) if cost and cost > Decimal("0") else None)
    channels.sort(key=lambda r: (-r["conv"], r["channel"]))
    campaign_rows.sort(key=lambda r: (-r["conv"], r["campaign"] or ""))
    for row in (*channels, *campaign_rows):
        del row["conv"], row["rev"]
    return channels, campaign_rows


def attribution_report(*, tenant, model: str, query: AttributionQuery) -> dict:
    loaded = journeys_load(tenant=tenant, query=query, with_decay=model == "time_decay")
    journeys = loaded.journeys
    body = {"model": model, **query.as_dict(), "currency": tenant.currency, "totals": totals_of(journeys)}
    if model != "data_driven":
        body.pop("order")
    if model != "time_decay":
        body.pop("half_life_days")
    unavailable = unavailable_reason(journeys, model)
    if unavailable:
        raise ValidationFailed(errors={"model": [unavailable]})
    reason = insufficient_reason(journeys, model)
    if reason:
        return {**body, "insufficient_data": True, "message": reason, "channels": [], "campaigns": []}
    credit = engine.attribute(loaded.prepared, model)
    channels, campaigns = credit_tables(tenant=tenant, loaded=loaded, credit=credit)
    details = {}
    if model == "data_driven":
        details = {"conversion_probability": round(credit.channel_details["conversion_probability"], 6),
                   "transient_states": credit.channel_details["states"]}
    return {**body, "insufficient_data": False, "message": None, "model_details": details,
            "channels": channels, "campaigns": campaigns}
