"""Where Stripe Checkout sends the browser back (`success_url` / `cancel_url`, billing/services.py) when
`FRONTEND_URL` is this server itself (`make run`). The plan itself changes only on Stripe's signed webhook, never on
this redirect, which anyone can open: the pages say so and read nothing of any tenant."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET


@require_GET
def checkout_success(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/pages/checkout_success.html")


@require_GET
def checkout_cancel(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/pages/checkout_cancel.html")


urlpatterns = [
    path("billing/success", checkout_success, name="page-checkout-success"),
    path("billing/cancel", checkout_cancel, name="page-checkout-cancel"),
]
