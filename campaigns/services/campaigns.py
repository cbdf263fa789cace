"""Changing campaigns: every change goes through the ad platform's connector first, then is saved and
announced (outbox event) in the same transaction. A platform failure raises an API error and changes nothing.

Used by the API (PATCH/DELETE /campaigns/{id}, the campaign builder), automation rules and autopilot.
"""
from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction

from stratum.api.exceptions import NOT_CONNECTED, ApiError, Conflict, NotConnected, ValidationFailed
from stratum.api.outbox import emit
from stratum.api.params import local_today

from ..connectors import get_connector
from ..connectors.base import CampaignSpec, ConnectorError, ConnectorRateLimited, ConnectorRejected
from ..errors import AD_ACCOUNT_INACTIVE, BUDGET_TOO_LOW, CAMPAIGN_DELETED, PLATFORM_RATE_LIMITED, PlatformError
from ..metrics import money
from ..models import AdAccount, BudgetType, Campaign, CampaignStatus
from ..platforms import COUNTRY_CODES, rules_for

CENT = Decimal("0.01")
MAX_BUDGET = Decimal("999999999.99")
SETTABLE_STATUSES = ("active", "paused", "deleted")
STATUS_EVENTS = {"paused": "campaign.paused", "active": "campaign.activated", "deleted": "campaign.deleted"}
TARGETING_KEYS = ("locations", "age_min", "age_max", "interests", "genders", "languages")
GENDERS = ("all", "male", "female")


def budget_clean(amount: Any, *, field: str = "budget") -> Decimal:
    """A positive amount with at most two decimals (422 naming `field` otherwise)."""
    try:
        value = Decimal(str(amount))
        if not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationFailed(errors={field: [f"Not an amount: {str(amount)[:40]!r}."]}) from None
    if value <= 0:
        raise ValidationFailed(errors={field: ["Must be greater than 0."]})
    if value > MAX_BUDGET:
        raise ValidationFailed(errors={field: [f"Must be at most {MAX_BUDGET}."]})
    if value != value.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValidationFailed(errors={field: ["At most two decimal places."]})
    return value.quantize(CENT)


def budget_minimum_check(*, platform: str, budget_type: str, amount: Decimal, field: str = "budget") -> None:
    rules = rules_for(platform)
    minimum = rules.min_lifetime_budget if budget_type == "lifetime" else rules.min_daily_budget
    if amount < minimum:
        raise ValidationFailed(errors={field: [f"{rules.name} needs a {budget_type} budget of at least {minimum}."]},
                               code=BUDGET_TOO_LOW)


def _event_data(campaign: Campaign, *, actor: str, reason: str, previous_status: str) -> dict[str, Any]:
    return {
        "campaign_id": str(campaign.pk), "campaign_name": campaign.name, "reason": reason,
        "previous_status": previous_status, "status": campaign.status, "platform": campaign.platform,
        "ad_account_id": str(campaign.ad_account_id), "actor": actor,
    }


def campaign_update(*, tenant, campaign: Campaign, status: str | None = None, budget_amount: Decimal | None = None,
                    actor: str, reason: str = "") -> Campaign:
    """Changes status and/or budget on the platform, saves, and emits campaign.paused / campaign.activated /
    campaign.deleted / budget.changed (payload: campaign_id, campaign_name, reason, previous_status, status,
    platform, ad_account_id, actor; budget.changed adds previous_budget, new_budget, budget_type, currency).

    Nothing changes when the platform call fails (API error with the platform's code). A call that changes
    nothing (same status, same budget) emits nothing.
    """
    if status is not None and status not in SETTABLE_STATUSES:
        raise ValidationFailed(errors={"status": [f"Must be one of {', '.join(SETTABLE_STATUSES)}."]})
    if budget_amount is not None:
        budget_amount = budget_clean(budget_amount)
    if status == CampaignStatus.DELETED and budget_amount is not None:
        raise ValidationFailed(errors={"budget": ["A campaign being deleted cannot get a new budget."]})
    with transaction.atomic():
        locked = (Campaign.objects.for_tenant(tenant).select_related("ad_account").select_for_update(of=("self",))
                  .get(pk=campaign.pk))
        if locked.status == CampaignStatus.DELETED:
            raise Conflict("The campaign is deleted; it cannot be changed.", code=CAMPAIGN_DELETED)
        previous_status, previous_budget = locked.status, locked.budget_amount
        new_status = status if status is not None and status != previous_status else None
        new_budget = budget_amount if budget_amount is not None and budget_amount != previous_budget else None
        if new_status is None and new_budget is None:
            return locked
        if new_budget is not None:
            budget_minimum_check(platform=locked.platform, budget_type=locked.budget_type, amount=new_budget)
        _platform_apply(locked, new_status=new_status, new_budget=new_budget, previous_budget=previous_budget)
        fields = ["updated_at"]
        if new_status is not None:
            locked.status = new_status
            fields.append("status")
        if new_budget is not None:
            locked.budget_amount = new_budget
            fields.append("budget_amount")
        locked.save(update_fields=fields)
        data = _event_data(locked, actor=actor, reason=reason, previous_status=previous_status)
        if new_budget is not None:
            emit(tenant, "budget.changed", {**data, "previous_budget": money(previous_budget),
                                            "new_budget": money(new_budget), "budget_type": locked.budget_type,
                                            "currency": locked.ad_account.currency})
        if new_status is not None:
            emit(tenant, STATUS_EVENTS[new_status], data)
    campaign.status, campaign.budget_amount = locked.status, locked.budget_amount
    campaign.updated_at = locked.updated_at
    return locked


def platform_error(exc: ConnectorError) -> ApiError:
    """The API error for a failed platform call (the caller's transaction rolls back: nothing changes): 503 +
    Retry-After when rate limited, 409 NOT_CONNECTED, 422 when the platform refused the values, else 502."""
    message = f"The ad platform refused or failed the request: {exc}. Nothing was changed."
    if isinstance(exc, ConnectorRateLimited) or exc.code == PLATFORM_RATE_LIMITED:
        retry = max(1, math.ceil(exc.retry_after or 60))
        return ApiError(message, exc.code, status_code=503, headers={"Retry-After": str(retry)})
    if exc.code == NOT_CONNECTED:
        return NotConnected(f"{exc} Connect the platform first.")
    if isinstance(exc, ConnectorRejected):
        return ValidationFailed(message, code=exc.code)
    return PlatformError(message, exc.code)


def _platform_apply(campaign: Campaign, *, new_status: str | None, new_budget: Decimal | None,
                    previous_budget: Decimal) -> None:
    """Budget first, then status; if the status call fails after the budget went through, the budget is put
    back on the platform (best effort) so that the platform and Stratum stay alike."""
    account = campaign.ad_account
    try:
        connector = get_connector(account)
    except ConnectorError as exc:
        raise platform_error(exc) from exc
    budget_done = False
    try:
        if new_budget is not None:
            connector.update_campaign_budget(account.external_id, campaign.external_id, new_budget)
            budget_done = True
        if new_status is not None:
            connector.update_campaign_status(account.external_id, campaign.external_id, new_status)
    except ConnectorError as exc:
        if budget_done:
            try:
                connector.update_campaign_budget(account.external_id, campaign.external_id, previous_budget)
            except ConnectorError:
                pass
        raise platform_error(exc) from exc


def campaign_delete(*, tenant, campaign: Campaign, actor: str, reason: str = "") -> Campaign:
    """Deletes (archives) the campaign on the platform; the row and its history stay, with status deleted."""
    return campaign_update(tenant=tenant, campaign=campaign, status=CampaignStatus.DELETED, actor=actor, reason=reason)


def targeting_clean(*, platform: str, targeting: dict[str, Any]) -> dict[str, Any]:
    """Targeting the platform accepts: ISO country codes, ages within the platform's bounds, short lists."""
    rules = rules_for(platform)
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(targeting) - set(TARGETING_KEYS))
    for key in unknown:
        errors[f"targeting.{key}"] = ["Unknown targeting field."]
    clean: dict[str, Any] = {}
    locations = targeting.get("locations", [])
    if not isinstance(locations, list) or not locations:
        errors["targeting.locations"] = ["Give at least one ISO 3166-1 alpha-2 country code."]
    else:
        bad = [str(c)[:10] for c in locations if not isinstance(c, str) or c.upper() not in COUNTRY_CODES]
        if bad:
            errors["targeting.locations"] = [f"Not ISO 3166-1 alpha-2 country codes: {', '.join(bad[:5])}."]
        elif len(locations) > 250:
            errors["targeting.locations"] = ["At most 250 countries."]
        else:
            clean["locations"] = sorted({c.upper() for c in locations})
    age_min, age_max = targeting.get("age_min", rules.min_age), targeting.get("age_max", rules.max_age)
    for key, value in (("age_min", age_min), ("age_max", age_max)):
        if not isinstance(value, int) or isinstance(value, bool) or not rules.min_age <= value <= rules.max_age:
            errors[f"targeting.{key}"] = [f"Must be a whole number from {rules.min_age} to {rules.max_age}."]
    if "targeting.age_min" not in errors and "targeting.age_max" not in errors:
        if age_min > age_max:
            errors["targeting.age_min"] = ["age_min must not be above age_max."]
        clean["age_min"], clean["age_max"] = age_min, age_max
    for key, max_items in (("interests", 100), ("languages", 50)):
        values = targeting.get(key, [])
        if not isinstance(values, list) or any(not isinstance(v, str) or not v.strip() or len(v) > 100 for v in values):
            errors[f"targeting.{key}"] = ["Must be a list of non-empty texts (at most 100 characters each)."]
        elif len(values) > max_items:
            errors[f"targeting.{key}"] = [f"At most {max_items} entries."]
        elif values:
            clean[key] = [v.strip() for v in values]
    genders = targeting.get("genders", "all")
    if genders not in GENDERS:
        errors["targeting.genders"] = [f"Must be one of {', '.join(GENDERS)}."]
    else:
        clean["genders"] = genders
    if errors:
        raise ValidationFailed(errors=errors)
    return clean


def campaign_create(*, tenant, ad_account: AdAccount, name: str, objective: str, budget_type: str,
                    budget_amount: Decimal, targeting: dict[str, Any], start_date: dt.date | None = None,
                    end_date: dt.date | None = None, status: str = "paused", actor: str, reason: str = "") -> Campaign:
    """The campaign builder: validates against the platform's rules, creates on the platform, saves the
    campaign as the platform reports it and emits campaign.created."""
    if ad_account.tenant_id != tenant.pk:
        raise ValueError("ad account of another tenant")
    if not ad_account.is_active:
        raise Conflict("This ad account is deactivated.", code=AD_ACCOUNT_INACTIVE)
    rules = rules_for(ad_account.platform)
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Must not be blank."]
    if objective not in rules.objectives:
        errors["objective"] = [f"{rules.name} objectives are {', '.join(rules.objectives)}."]
    if budget_type not in BudgetType.values:
        errors["budget.type"] = [f"Must be one of {', '.join(BudgetType.values)}."]
    if status not in ("active", "paused"):
        errors["status"] = ["A new campaign starts active or paused."]
    today = local_today(ad_account.timezone)
    if start_date and start_date < today:
        errors["start_date"] = [f"Must not be in the past (today is {today.isoformat()} in the account's time zone)."]
    if end_date and end_date < (start_date or today):
        errors["end_date"] = ["Must not be before the start date."]
    if budget_type == "lifetime" and end_date is None:
        errors["end_date"] = ["A lifetime budget needs an end date."]
    if errors:
        raise ValidationFailed(errors=errors)
    budget_amount = budget_clean(budget_amount, field="budget.amount")
    budget_minimum_check(platform=ad_account.platform, budget_type=budget_type, amount=budget_amount,
                         field="budget.amount")
    targeting = targeting_clean(platform=ad_account.platform, targeting=targeting or {})
    spec = CampaignSpec(name=name, objective=objective, budget_type=budget_type, budget_amount=budget_amount,
                        targeting=targeting, start_date=start_date, end_date=end_date, status=status)
    with transaction.atomic():
        try:
            record = get_connector(ad_account).create_campaign(ad_account.external_id, spec)
        except ConnectorError as exc:
            raise platform_error(exc) from exc
        values = dict(name=record.name, platform=ad_account.platform, status=record.status,
                      objective=record.objective, budget_type=record.budget_type, budget_amount=record.budget_amount,
                      start_date=record.start_date, end_date=record.end_date, targeting=record.targeting)
        try:
            with transaction.atomic():
                campaign = Campaign.objects.for_tenant(tenant).create(
                    tenant=tenant, ad_account=ad_account, external_id=record.external_id, **values)
        except IntegrityError:  # a sync saw it first
            campaign = Campaign.objects.for_tenant(tenant).get(ad_account=ad_account, external_id=record.external_id)
            for key, value in values.items():
                setattr(campaign, key, value)
            campaign.save()
        emit(tenant, "campaign.created", {
            "campaign_id": str(campaign.pk), "campaign_name": campaign.name, "reason": reason,
            "previous_status": None, "status": campaign.status, "platform": campaign.platform,
            "ad_account_id": str(ad_account.pk), "actor": actor, "objective": campaign.objective,
            "budget_type": campaign.budget_type, "budget_amount": money(campaign.budget_amount),
            "currency": ad_account.currency,
        })
    return campaign
