"""Stripe webhook events: verified with the library's own `construct_event` (5 minutes' tolerance), processed
once per event id, applied in one transaction with the event's log row.

A replayed event finds its row and changes nothing. An event we cannot attribute (unknown customer, a price
that is none of our plans) or whose object is not shaped like Stripe's is logged as ignored, its partial writes
rolled back, and answered 200, so Stripe does not retry it forever; a signed body that is not an event at all is a
400. Any other failure (database, Stripe unreachable) rolls everything back and answers 5xx, so Stripe retries.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import stripe
from django.db import IntegrityError, transaction

from accounts.models import Tenant
from stratum.api.errors import BAD_REQUEST
from stratum.api.exceptions import ApiError

from .emails import send_payment_failed
from .errors import INVALID_SIGNATURE
from .models import CheckoutSession, StripeEvent
from .stripe_gateway import stripe_call, webhook_verify
from .stripe_sync import (
    Unmappable,
    customer_remember,
    from_timestamp,
    invoice_apply,
    stripe_id,
    subscription_apply,
    tenant_for,
)

logger = logging.getLogger("stratum.billing")

SIGNATURE_TOLERANCE_SECONDS = 300
# What reading a Stripe object of the wrong shape raises (a missing id, a list where an object belongs, a
# timestamp that is not a number). Database and network failures are none of these: they still answer 500.
MALFORMED_OBJECT_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


class InvalidSignature(ApiError):
    status_code = 400
    default_code = INVALID_SIGNATURE
    default_detail = "The Stripe-Signature header is missing, invalid or too old."


@dataclass
class WebhookResult:
    event_id: str
    event_type: str
    outcome: str  # applied | ignored | duplicate
    note: str = ""


def _on_checkout_completed(obj: dict, created) -> tuple[Tenant, str]:
    metadata = obj.get("metadata") or {}
    customer_id = stripe_id(obj.get("customer"))
    tenant = tenant_for(customer_id=customer_id, tenant_id=obj.get("client_reference_id") or metadata.get("tenant_id"))
    if customer_id:
        details = obj.get("customer_details") or {}
        customer_remember(tenant=tenant, customer_id=customer_id, email=details.get("email") or "")
    CheckoutSession.objects.for_tenant(tenant).filter(stripe_session_id=obj.get("id")).update(
        status=CheckoutSession.Status.COMPLETE, completed_at=created)
    if obj.get("mode") != "subscription" or not obj.get("subscription"):
        return tenant, "checkout without a subscription"
    subscription = obj["subscription"]
    if not isinstance(subscription, dict):  # not expanded: ask Stripe for the current state
        subscription = stripe_call(lambda client: client.v1.subscriptions.retrieve(obj["subscription"]))
    applied = subscription_apply(obj=subscription, event_created=created)
    return tenant, f"subscription {applied.stripe_subscription_id} {applied.status}, plan {tenant.plan}"


def _on_subscription(obj: dict, created) -> tuple[Tenant, str]:
    applied = subscription_apply(obj=obj, event_created=created)
    return applied.tenant, f"subscription {applied.stripe_subscription_id} {applied.status}, plan {applied.tenant.plan}"


def _on_invoice_paid(obj: dict, created) -> tuple[Tenant, str]:
    invoice = invoice_apply(obj=obj)
    return invoice.tenant, f"invoice {invoice.stripe_invoice_id} {invoice.status}"


def _on_invoice_payment_failed(obj: dict, created) -> tuple[Tenant, str]:
    invoice = invoice_apply(obj=obj)
    tenant = invoice.tenant
    transaction.on_commit(lambda: send_payment_failed(tenant=tenant, invoice=invoice))
    return tenant, f"invoice {invoice.stripe_invoice_id} payment failed (attempt {invoice.attempt_count})"


HANDLERS: dict[str, Callable] = {
    "checkout.session.completed": _on_checkout_completed,
    "customer.subscription.created": _on_subscription,
    "customer.subscription.updated": _on_subscription,
    "customer.subscription.deleted": _on_subscription,
    "invoice.paid": _on_invoice_paid,
    "invoice.payment_failed": _on_invoice_payment_failed,
}


def stripe_webhook_process(*, payload: bytes, signature: str | None) -> WebhookResult:
    try:
        webhook_verify(payload=payload, signature=signature or "", tolerance=SIGNATURE_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise InvalidSignature(f"Invalid Stripe-Signature: {str(exc)[:120]}") from exc
    except (ValueError, TypeError, AttributeError, KeyError):  # signed, but not a Stripe event object
        raise ApiError("The webhook body is not a Stripe event.", BAD_REQUEST) from None
    event = json.loads(payload)
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise ApiError("The webhook body is not a Stripe event.", BAD_REQUEST)
    event_id, event_type = str(event["id"])[:255], str(event["type"])[:100]
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    try:
        created = from_timestamp(event.get("created"))
    except (TypeError, ValueError, OverflowError, OSError):
        created = None
    if not isinstance(obj, dict) or (event.get("created") not in (None, "", 0) and created is None):
        raise ApiError("The webhook body is not a Stripe event.", BAD_REQUEST)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeEvent.objects.create(
                    event_id=event_id, event_type=event_type, outcome=StripeEvent.Outcome.IGNORED,
                    livemode=bool(event.get("livemode")), stripe_created_at=created, payload=event)
        except IntegrityError:
            logger.info("stripe event %s replayed: already processed", event_id)
            return WebhookResult(event_id, event_type, "duplicate", "already processed")
        handler = HANDLERS.get(event_type)
        if handler is None:
            record.note = "event type not handled"
        else:
            try:
                with transaction.atomic():  # an event not applied leaves nothing half-written
                    tenant, note = handler(obj, created)
                record.tenant, record.outcome, record.note = tenant, StripeEvent.Outcome.APPLIED, note[:500]
            except Unmappable as exc:
                logger.warning("stripe event %s (%s) ignored: %s", event_id, event_type, exc)
                record.note = str(exc)[:500]
            except MALFORMED_OBJECT_ERRORS as exc:
                # Signed by Stripe but not shaped like the object the type announces: retrying would fail the
                # same way for days. Logged loudly and kept (payload included) for staff to look at.
                logger.exception("stripe event %s (%s) has a malformed object", event_id, event_type)
                record.note = f"malformed {event_type} object: {type(exc).__name__}: {str(exc)[:200]}"[:500]
        record.save(update_fields=["tenant", "outcome", "note"])
    return WebhookResult(event_id, event_type, record.outcome, record.note)
