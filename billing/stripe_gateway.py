"""The one door to Stripe: a configured `stripe.StripeClient` and the translation of its errors.

`STRIPE_API_BASE` points the library at a Stripe-compatible server (tests, staging). The library's own
httpx client is used, so tests mock Stripe's HTTP API with respx at the transport layer. Objects leave
this module as plain dicts shaped like Stripe's documented objects.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import stripe
from django.conf import settings

from stratum.api.exceptions import ApiError, ServiceUnavailable

from .errors import PAYMENT_PROVIDER_ERROR, PAYMENTS_NOT_CONFIGURED

logger = logging.getLogger("stratum.billing")

STRIPE_TIMEOUT_SECONDS = 20
_http_client = None
_http_lock = threading.Lock()


class PaymentsNotConfigured(ServiceUnavailable):
    default_code = PAYMENTS_NOT_CONFIGURED
    default_detail = "Payments are not configured on this server."


class PaymentProviderError(ApiError):
    status_code = 502
    default_code = PAYMENT_PROVIDER_ERROR
    default_detail = "The payment provider could not complete the request. Try again shortly."


def payments_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def _shared_http_client():
    global _http_client
    with _http_lock:
        if _http_client is None:
            _http_client = stripe.HTTPXClient(timeout=STRIPE_TIMEOUT_SECONDS, allow_sync_methods=True)
        return _http_client


def stripe_client() -> stripe.StripeClient:
    if not payments_configured():
        raise PaymentsNotConfigured("Payments are not configured on this server (STRIPE_SECRET_KEY is not set).")
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": base.rstrip("/")} if base else None,
        http_client=_shared_http_client(),
        max_network_retries=2,
    )


def stripe_call(operation: Callable[[stripe.StripeClient], Any]) -> dict:
    """Runs `operation(client)` and returns the Stripe object as a dict; Stripe failures become a 502."""
    client = stripe_client()
    try:
        result = operation(client)
    except stripe.StripeError as exc:
        logger.warning("stripe call failed: %s (%s)", exc.user_message or str(exc)[:200], type(exc).__name__)
        raise PaymentProviderError(
            f"The payment provider refused the request: {(exc.user_message or str(exc))[:200]}") from exc
    return result.to_dict() if hasattr(result, "to_dict") else dict(result)


def webhook_verify(*, payload: bytes, signature: str, tolerance: int = 300) -> None:
    """Checks `Stripe-Signature` with the library's own verifier (raises stripe.SignatureVerificationError;
    ValueError and friends when the signed body is not an event)."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise PaymentsNotConfigured("Payments are not configured on this server (STRIPE_WEBHOOK_SECRET is not set).")
    stripe.Webhook.construct_event(payload, signature, secret, tolerance=tolerance)
