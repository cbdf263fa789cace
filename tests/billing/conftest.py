import json

import pytest
import respx

from tests.billing.fake_stripe import API_BASE, PRICES, SECRET_KEY, WEBHOOK_SECRET, FakeStripe, sign


@pytest.fixture
def stripe_settings(settings):
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = API_BASE
    settings.STRIPE_PRICES = {key: price_id for key, (price_id, _, _) in PRICES.items()}
    settings.FRONTEND_URL = "https://app.stratum.test"
    return settings


@pytest.fixture
def stripe_fake(stripe_settings):
    fake = FakeStripe()
    with respx.mock(assert_all_called=False) as router:
        fake.mount(router)
        yield fake


@pytest.fixture
def deliver(anon_client):
    """POSTs a Stripe event to the webhook as Stripe does (signed), returns the response."""

    def _deliver(event: dict, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None, signature=None):
        payload = json.dumps(event)
        header = signature if signature is not None else sign(payload, secret=secret, timestamp=timestamp)
        return anon_client.post("/api/v1/payments/webhook", data=payload, content_type="application/json",
                                HTTP_STRIPE_SIGNATURE=header)

    return _deliver
