"""Stripe webhook: the signature is checked first; only requests that fail it are limited, per client address, so a
flood of junk never makes a correctly signed event answer 429 — not even one sent from the flooding address."""
from __future__ import annotations

import json
import math
import time

import pytest
from rest_framework.test import APIClient

from billing.views import STRIPE_FAILURES_BURST, STRIPE_FAILURES_PER_MINUTE
from tests.billing.fake_stripe import WEBHOOK_SECRET, sign

URL = "/api/v1/payments/webhook"
STRIPE_IP, ATTACKER = "54.187.174.169", "203.0.113.9"


def post(ip: str, payload: str, signature: str):
    return APIClient(REMOTE_ADDR=ip).post(URL, data=payload, content_type="application/json",
                                          HTTP_STRIPE_SIGNATURE=signature)


def event(n: int) -> str:
    return json.dumps({"id": f"evt_dos_{n}", "object": "event", "type": "customer.created", "created": 1_700_000_000,
                       "livemode": False, "data": {"object": {"id": f"cus_{n}", "object": "customer"}}})


@pytest.mark.attack("webhook_dos")
def test_junk_floods_never_refuse_a_signed_event(hostile, db, settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.RATELIMIT_ENABLED = True
    junk, signed = [], []
    started = time.monotonic()
    for n in range(60):
        junk.append(post(ATTACKER, event(1000 + n), "t=1700000000,v1=" + "0" * 64).status_code)
        if n % 5 == 0:
            payload = event(n)
            for ip in (STRIPE_IP, ATTACKER):  # even from the flooding address, a signed event goes through
                response = post(ip, payload, sign(payload))
                signed.append((ip, response.status_code, response.json().get("outcome")))
    refilled = math.ceil((time.monotonic() - started) * STRIPE_FAILURES_PER_MINUTE / 60)  # tokens back meanwhile
    hostile.expect("webhook_dos", "junk is answered 400 until its own bucket is empty, then 429",
                   junk[:STRIPE_FAILURES_BURST] == [400] * STRIPE_FAILURES_BURST and 429 in junk
                   and junk.count(400) <= STRIPE_FAILURES_BURST + refilled, (refilled, junk))
    hostile.expect("webhook_dos", "every correctly signed event is accepted during the flood",
                   all(status == 200 for _, status, _ in signed), signed)
    hostile.expect("webhook_dos", "a replay of a signed event is a duplicate, not a second application",
                   [outcome for ip, _, outcome in signed if ip == ATTACKER] == ["duplicate"] * 12, signed)
    other = post("198.51.100.3", event(5000), "t=1700000000,v1=" + "1" * 64)
    hostile.expect("webhook_dos", "another client's failure is counted in its own bucket",
                   other.status_code == 400 and other.json()["code"] == "INVALID_SIGNATURE", other.status_code)
    limited = next((r for r in (post(ATTACKER, event(5001 + n), "t=1,v1=2") for n in range(5))
                    if r.status_code == 429), None)
    limited = limited or post(ATTACKER, event(5100), "t=1,v1=2")
    hostile.expect("webhook_dos", "the 429 carries Retry-After and the error format",
                   limited.status_code == 429 and limited.json()["code"] == "RATE_LIMITED"
                   and int(limited["Retry-After"]) >= 1, limited.content[:200])
