"""Billing writes: checkout, plan changes of a running subscription, cancellation, and the staff's tenant
changes (plan, limits, feature overrides, suspension)."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from accounts.models import Tenant, User
from stratum.api.exceptions import Conflict, ValidationFailed

from .errors import ALREADY_SUBSCRIBED, NO_ACTIVE_SUBSCRIPTION
from .models import ENTITLED_STATUSES, BillingCustomer, CheckoutSession, Subscription
from .plans import FEATURES, LIMITS, RATE_LIMIT_OVERRIDES, TIERS, BillingPeriod, stripe_price_id
from .selectors import subscription_current
from .stripe_gateway import PaymentsNotConfigured, stripe_call, stripe_client
from .stripe_sync import customer_remember, from_timestamp, subscription_apply

logger = logging.getLogger("stratum.billing")


@dataclass
class CheckoutResult:
    mode: str  # "checkout": pay on Stripe's page; "subscription_update": the running subscription changed plan
    plan: str
    billing_period: str
    session_id: str | None = None
    url: str | None = None
    expires_at: dt.datetime | None = None
    subscription: Subscription | None = None


def _validate_plan(plan: str, period: str) -> None:
    errors = {}
    if plan not in TIERS:
        errors["plan"] = [f"Unknown plan. Known: {', '.join(TIERS)}."]
    if period not in BillingPeriod.values:
        errors["billing_period"] = [f"Unknown billing period. Known: {', '.join(BillingPeriod.values)}."]
    if errors:
        raise ValidationFailed(errors=errors)


def _same_origin_url(value: str | None, field: str, default_path: str) -> str:
    """Redirect targets stay on the product's own origin (FRONTEND_URL): no open redirect through Stripe."""
    if not value:
        return f"{settings.FRONTEND_URL}{default_path}"
    expected, given = urlsplit(settings.FRONTEND_URL), urlsplit(value)
    if (given.scheme, given.netloc) != (expected.scheme, expected.netloc):
        raise ValidationFailed(errors={field: [f"Must be a URL on {expected.scheme}://{expected.netloc}."]})
    return value


def _customer_ensure(*, tenant: Tenant, user: User) -> str:
    existing = BillingCustomer.objects.for_tenant(tenant).first()
    if existing is not None:
        return existing.stripe_customer_id
    customer = stripe_call(lambda client: client.v1.customers.create(
        params={"email": user.email, "name": tenant.name, "metadata": {"tenant_id": str(tenant.pk)}},
        # Concurrent first checkouts of one tenant create one Customer.
        options={"idempotency_key": f"stratum-customer-{tenant.pk}"},
    ))
    return customer_remember(tenant=tenant, customer_id=customer["id"], email=user.email).stripe_customer_id


def checkout_start(*, tenant: Tenant, user: User, plan: str, billing_period: str, success_url: str | None = None,
                   cancel_url: str | None = None) -> CheckoutResult:
    """A Stripe Checkout Session in subscription mode; a tenant that already pays changes its plan in place."""
    _validate_plan(plan, billing_period)
    success_url = _same_origin_url(success_url, "success_url", "/billing/success?session_id={CHECKOUT_SESSION_ID}")
    cancel_url = _same_origin_url(cancel_url, "cancel_url", "/billing/cancel")
    stripe_client()  # 503 PAYMENTS_NOT_CONFIGURED before anything else
    price_id = stripe_price_id(plan, billing_period)
    if not price_id:
        raise PaymentsNotConfigured(f"No Stripe price is configured for {plan} {billing_period} "
                                    f"(STRIPE_PRICE_{plan.upper()}_{billing_period.upper()}).")
    metadata = {"tenant_id": str(tenant.pk), "plan": plan, "billing_period": billing_period}
    current = subscription_current(tenant=tenant)
    if current is not None and current.status in ENTITLED_STATUSES:
        return _subscription_change(tenant=tenant, subscription=current, plan=plan, billing_period=billing_period,
                                    price_id=price_id, metadata=metadata)
    customer_id = _customer_ensure(tenant=tenant, user=user)
    session = stripe_call(lambda client: client.v1.checkout.sessions.create(params={
        "mode": "subscription",
        "customer": customer_id,
        "client_reference_id": str(tenant.pk),
        "line_items": [{"price": price_id, "quantity": 1}],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
    }))
    expires_at = from_timestamp(session.get("expires_at"))
    CheckoutSession.objects.for_tenant(tenant).create(
        tenant=tenant, stripe_session_id=session["id"], plan=plan, billing_period=billing_period,
        url=(session.get("url") or "")[:2000], created_by=user, expires_at=expires_at)
    return CheckoutResult(mode="checkout", plan=plan, billing_period=billing_period, session_id=session["id"],
                          url=session.get("url"), expires_at=expires_at)


def _subscription_change(*, tenant: Tenant, subscription: Subscription, plan: str, billing_period: str,
                         price_id: str, metadata: dict) -> CheckoutResult:
    if (subscription.plan, subscription.billing_period) == (plan, billing_period) \
            and not subscription.cancel_at_period_end:
        raise Conflict(f"This workspace is already subscribed to {plan} ({billing_period}).", ALREADY_SUBSCRIBED)
    remote = stripe_call(lambda client: client.v1.subscriptions.retrieve(subscription.stripe_subscription_id))
    item_id = remote["items"]["data"][0]["id"]
    updated = stripe_call(lambda client: client.v1.subscriptions.update(subscription.stripe_subscription_id, params={
        "items": [{"id": item_id, "price": price_id}],
        "proration_behavior": "create_prorations",
        "cancel_at_period_end": False,
        "metadata": metadata,
    }))
    applied = subscription_apply(obj=updated)
    return CheckoutResult(mode="subscription_update", plan=plan, billing_period=billing_period, subscription=applied)


def subscription_cancel(*, tenant: Tenant, reason: str = "") -> Subscription:
    """Cancels at the end of the paid period; the tier stays until Stripe ends the subscription."""
    current = subscription_current(tenant=tenant)
    if current is None or current.status not in ENTITLED_STATUSES:
        raise Conflict("This workspace has no active subscription to cancel.", NO_ACTIVE_SUBSCRIPTION)
    stripe_client()
    if current.cancel_at_period_end:
        return current
    params: dict[str, Any] = {"cancel_at_period_end": True}
    if reason:
        params["cancellation_details"] = {"comment": reason[:500]}
    updated = stripe_call(lambda client: client.v1.subscriptions.update(current.stripe_subscription_id, params=params))
    subscription = subscription_apply(obj=updated)
    if reason:
        subscription.cancellation_reason = reason[:500]
        subscription.save(update_fields=["cancellation_reason", "updated_at"])
    return subscription


# --- platform staff --------------------------------------------------------------------------

def tenant_plan_change(*, tenant: Tenant, plan: str) -> Tenant:
    """Staff override of the tier (a contract outside Stripe, a goodwill upgrade). Stripe is not touched; the
    next subscription event from Stripe sets the tier again."""
    if plan not in TIERS:
        raise ValidationFailed(errors={"plan": [f"Unknown plan. Known: {', '.join(TIERS)}."]})
    if tenant.plan != plan:
        logger.info("tenant %s plan %s -> %s (staff)", tenant.pk, tenant.plan, plan)
        tenant.plan = plan
        tenant.save(update_fields=["plan", "updated_at"])
    return tenant


def tenant_suspend(*, tenant: Tenant) -> Tenant:
    """Its users and API keys get 403 TENANT_SUSPENDED from the next request on."""
    if tenant.status != Tenant.Status.SUSPENDED:
        tenant.status = Tenant.Status.SUSPENDED
        tenant.save(update_fields=["status", "updated_at"])
    return tenant


def tenant_reactivate(*, tenant: Tenant) -> Tenant:
    if tenant.status != Tenant.Status.ACTIVE:
        tenant.status = Tenant.Status.ACTIVE
        tenant.save(update_fields=["status", "updated_at"])
    return tenant


def _overrides_merge(current: dict | None, changes: dict, *, known, cast, field: str, what: str) -> dict:
    """Applies override changes; a None value removes the override so the tier's value applies again."""
    unknown = [key for key in changes if key not in known]
    if unknown:
        raise ValidationFailed(errors={field: [f"Unknown {what}: {', '.join(unknown)}."]})
    merged = dict(current or {})
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = cast(value)
    return merged


def _limit_value(value: Any) -> int:
    """A limit is a whole number from 0 up; a bool or a fraction is not one (whichever caller sent it)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationFailed(errors={"limit_overrides": ["A limit must be a whole number."]})
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationFailed(errors={"limit_overrides": ["A limit must be a whole number."]}) from None
    if number < 0:
        raise ValidationFailed(errors={"limit_overrides": ["A limit must be 0 or more."]})
    return number


@transaction.atomic
def tenant_admin_update(*, tenant: Tenant, data: dict[str, Any]) -> Tenant:
    """Superadmin PATCH: name, plan, max_users and other limit overrides, feature flag overrides, suspension.
    A null override removes it (the tier's value applies again)."""
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if "name" in data:
        tenant.name = data["name"].strip()
    if "plan" in data:
        tenant_plan_change(tenant=tenant, plan=data["plan"])
    limits = dict(data.get("limit_overrides") or {})
    if "max_users" in data:
        limits["max_users"] = data["max_users"]
    if limits:
        tenant.limit_overrides = _overrides_merge(tenant.limit_overrides, limits, known=LIMITS + RATE_LIMIT_OVERRIDES,
                                                  cast=_limit_value, field="limit_overrides", what="limit")
    if "feature_flags" in data:
        tenant.feature_flags = _overrides_merge(tenant.feature_flags, data["feature_flags"], known=FEATURES,
                                                cast=bool, field="feature_flags", what="feature")
    if "status" in data:
        tenant.status = data["status"]
    if "suspended" in data:
        tenant.status = Tenant.Status.SUSPENDED if data["suspended"] else Tenant.Status.ACTIVE
    tenant.save()
    return tenant
