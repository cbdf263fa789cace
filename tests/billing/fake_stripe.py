"""A small Stripe-compatible API for tests, mounted with respx at STRIPE_API_BASE.

It speaks Stripe's wire format (form-encoded requests with bracketed keys, JSON objects shaped like the
documented Customer, Checkout Session, Subscription, Invoice and Event objects, API version 2025+, where the
billing period sits on the subscription item) and keeps state, so a test can run checkout → payment →
webhooks → plan change end to end. `sign()` builds a `Stripe-Signature` header with Stripe's documented
scheme: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from urllib.parse import parse_qsl

import httpx
import respx

API_BASE = "https://stripe.test"
WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
SECRET_KEY = "sk_test_stratum_fake"
PRICES = {
    "starter_monthly": ("price_starter_m", 9900, "month"),
    "starter_annual": ("price_starter_y", 99000, "year"),
    "professional_monthly": ("price_pro_m", 49900, "month"),
    "professional_annual": ("price_pro_y", 499000, "year"),
    "enterprise_monthly": ("price_ent_m", 199900, "month"),
    "enterprise_annual": ("price_ent_y", 1999000, "year"),
}
PRICE_BY_ID = {price_id: (amount, interval) for price_id, amount, interval in PRICES.values()}
DAY = 86_400


def sign(payload: str | bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    body = payload.decode() if isinstance(payload, bytes) else payload
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def _error(status: int, message: str, code: str = "resource_missing", param: str | None = None):
    return httpx.Response(status, json={"error": {"type": "invalid_request_error", "code": code,
                                                  "message": message, "param": param}})


class FakeStripe:
    def __init__(self):
        self.customers: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self._idempotent: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self.now = int(time.time())

    # --- wiring ----------------------------------------------------------------------------
    def mount(self, router: respx.MockRouter) -> None:
        router.post(f"{API_BASE}/v1/customers").mock(side_effect=self._customer_create)
        router.post(f"{API_BASE}/v1/checkout/sessions").mock(side_effect=self._session_create)
        router.get(url__regex=rf"^{re.escape(API_BASE)}/v1/subscriptions/(?P<sub_id>[\w]+)$").mock(
            side_effect=self._subscription_retrieve)
        router.post(url__regex=rf"^{re.escape(API_BASE)}/v1/subscriptions/(?P<sub_id>[\w]+)$").mock(
            side_effect=self._subscription_update)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_test{next(self._ids):06d}"

    def _params(self, request: httpx.Request) -> dict[str, str]:
        params = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        self.requests.append((request.method, request.url.path, params))
        return params

    @staticmethod
    def _metadata(params: dict, prefix: str = "metadata") -> dict:
        pattern = re.compile(rf"^{re.escape(prefix)}\[(\w+)\]$")
        return {m.group(1): v for k, v in params.items() if (m := pattern.match(k))}

    # --- API -------------------------------------------------------------------------------
    def _customer_create(self, request: httpx.Request):
        params = self._params(request)
        key = request.headers.get("Idempotency-Key")
        if key and key in self._idempotent:
            return httpx.Response(200, json=self._idempotent[key])
        customer = {"id": self._new_id("cus"), "object": "customer", "email": params.get("email"),
                    "name": params.get("name"), "metadata": self._metadata(params), "created": self.now,
                    "livemode": False}
        self.customers[customer["id"]] = customer
        if key:
            self._idempotent[key] = customer
        return httpx.Response(200, json=customer)

    def _session_create(self, request: httpx.Request):
        params = self._params(request)
        if params.get("customer") not in self.customers:
            return _error(400, f"No such customer: '{params.get('customer')}'", param="customer")
        if params.get("line_items[0][price]") not in PRICE_BY_ID:
            return _error(400, f"No such price: '{params.get('line_items[0][price]')}'", param="line_items[0][price]")
        session_id = self._new_id("cs")
        session = {
            "id": session_id, "object": "checkout.session", "mode": params.get("mode"), "status": "open",
            "payment_status": "unpaid", "customer": params["customer"],
            "client_reference_id": params.get("client_reference_id"), "metadata": self._metadata(params),
            "subscription_metadata": self._metadata(params, "subscription_data[metadata]"),
            "price": params["line_items[0][price]"], "subscription": None,
            "success_url": params.get("success_url"), "cancel_url": params.get("cancel_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}", "created": self.now,
            "expires_at": self.now + DAY, "livemode": False, "customer_details": None,
        }
        self.sessions[session_id] = session
        return httpx.Response(200, json=self._session_public(session))

    @staticmethod
    def _session_public(session: dict) -> dict:
        return {k: v for k, v in session.items() if k not in ("subscription_metadata", "price")}

    def _subscription_retrieve(self, request: httpx.Request, sub_id: str):
        self.requests.append((request.method, request.url.path, {}))
        if sub_id not in self.subscriptions:
            return _error(404, f"No such subscription: '{sub_id}'")
        return httpx.Response(200, json=self.subscriptions[sub_id])

    def _subscription_update(self, request: httpx.Request, sub_id: str):
        params = self._params(request)
        subscription = self.subscriptions.get(sub_id)
        if subscription is None:
            return _error(404, f"No such subscription: '{sub_id}'")
        if "cancel_at_period_end" in params:
            subscription["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
            subscription["cancel_at"] = (subscription["items"]["data"][0]["current_period_end"]
                                         if subscription["cancel_at_period_end"] else None)
        if "cancellation_details[comment]" in params:
            subscription["cancellation_details"]["comment"] = params["cancellation_details[comment]"]
        if "items[0][price]" in params:
            item = subscription["items"]["data"][0]
            if params.get("items[0][id]") != item["id"]:
                return _error(400, "No such subscription item", param="items[0][id]")
            item["price"] = self._price(params["items[0][price]"])
        metadata = self._metadata(params)
        if metadata:
            subscription["metadata"] = metadata
        return httpx.Response(200, json=subscription)

    @staticmethod
    def _price(price_id: str) -> dict:
        amount, interval = PRICE_BY_ID[price_id]
        return {"id": price_id, "object": "price", "active": True, "currency": "usd", "unit_amount": amount,
                "recurring": {"interval": interval, "interval_count": 1}, "type": "recurring"}

    # --- what Stripe does when the customer pays -------------------------------------------
    def pay_checkout(self, session_id: str) -> dict:
        """The customer completes the Checkout page: a subscription and a paid invoice now exist. Returns the
        completed session."""
        session = self.sessions[session_id]
        price = self._price(session["price"])
        period_days = 365 if price["recurring"]["interval"] == "year" else 30
        sub_id = self._new_id("sub")
        subscription = {
            "id": sub_id, "object": "subscription", "customer": session["customer"], "status": "active",
            "created": self.now, "start_date": self.now, "cancel_at_period_end": False, "cancel_at": None,
            "canceled_at": None, "ended_at": None, "cancellation_details": {"comment": None, "reason": None},
            "metadata": session["subscription_metadata"], "livemode": False,
            "collection_method": "charge_automatically",
            "items": {"object": "list", "has_more": False, "url": f"/v1/subscription_items?subscription={sub_id}",
                      "data": [{"id": self._new_id("si"), "object": "subscription_item", "price": price,
                                "quantity": 1, "current_period_start": self.now,
                                "current_period_end": self.now + period_days * DAY}]},
        }
        self.subscriptions[sub_id] = subscription
        session.update(status="complete", payment_status="paid", subscription=sub_id,
                       customer_details={"email": self.customers[session["customer"]]["email"]})
        subscription["latest_invoice"] = self.invoice_for(sub_id, status="paid")["id"]
        return self._session_public(session)

    def invoice_for(self, sub_id: str, *, status: str, attempt_count: int = 1) -> dict:
        subscription = self.subscriptions[sub_id]
        item = subscription["items"]["data"][0]
        amount = item["price"]["unit_amount"]
        invoice_id = self._new_id("in")
        invoice = {
            "id": invoice_id, "object": "invoice", "customer": subscription["customer"],
            "number": f"STRAT-{len(self.invoices) + 1:04d}", "status": status, "currency": "usd",
            "amount_due": amount, "amount_paid": amount if status == "paid" else 0,
            "amount_remaining": 0 if status == "paid" else amount, "attempt_count": attempt_count,
            "next_payment_attempt": None if status == "paid" else self.now + 3 * DAY, "created": self.now,
            "period_start": self.now, "period_end": self.now,
            "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_test/{invoice_id}",
            "invoice_pdf": f"https://pay.stripe.com/invoice/acct_test/{invoice_id}/pdf",
            "status_transitions": {"finalized_at": self.now, "paid_at": self.now if status == "paid" else None},
            "lines": {"object": "list", "has_more": False, "data": [
                {"id": self._new_id("il"), "object": "line_item", "amount": amount, "currency": "usd",
                 "period": {"start": item["current_period_start"], "end": item["current_period_end"]}}]},
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"subscription": sub_id, "metadata": subscription["metadata"]}},
            "livemode": False,
        }
        self.invoices[invoice_id] = invoice
        return invoice

    def event(self, event_type: str, obj: dict, *, created: int | None = None, event_id: str | None = None) -> dict:
        return {"id": event_id or self._new_id("evt"), "object": "event", "api_version": "2025-09-30.clover",
                "created": self.now if created is None else created, "type": event_type, "livemode": False,
                "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
                "data": {"object": json.loads(json.dumps(obj))}}
