"""The pages Stripe Checkout returns the browser to (success_url / cancel_url defaults under `make run`)."""
from __future__ import annotations

import pytest

from billing.models import Subscription

pytestmark = pytest.mark.django_db


def test_success_page_says_the_webhook_decides_and_changes_nothing(client, tenant):
    plans_before = list(Subscription.objects.unscoped().values_list("tenant_id", "plan", "status"))
    response = client.get("/billing/success?session_id=cs_test_a1b2c3")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "Your plan changes as soon as Stripe confirms the payment" in body
    assert "cs_test_a1b2c3" not in body  # nothing of the query string is echoed
    assert list(Subscription.objects.unscoped().values_list("tenant_id", "plan", "status")) == plans_before


def test_cancel_page(client):
    response = client.get("/billing/cancel")
    assert response.status_code == 200
    assert "Nothing was charged and your plan is unchanged." in response.content.decode()


@pytest.mark.parametrize("path", ["/billing/success", "/billing/cancel"])
def test_pages_only_answer_get(client, path):
    assert client.post(path).status_code == 405
