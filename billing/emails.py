"""Billing e-mails to the tenant's owners and admins."""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from accounts.notifications import tenant_admins

logger = logging.getLogger("stratum.billing")


def send_payment_failed(*, tenant, invoice) -> None:
    recipients = [user.email for user in tenant_admins(tenant=tenant)]
    if not recipients:
        return
    amount = f"{invoice.amount_due:.2f} {invoice.currency}"
    retry = (f"Stripe will try again on {invoice.next_payment_attempt:%Y-%m-%d}. " if invoice.next_payment_attempt
             else "")
    link = f"\nInvoice: {invoice.hosted_invoice_url}\n" if invoice.hosted_invoice_url else ""
    try:
        send_mail(
            f"Stratum: payment of {amount} failed",
            f"Hello,\n\nthe payment of {amount} for {tenant.name}'s Stratum subscription failed. {retry}"
            f"Please update the payment method to keep your plan.{link}\n",
            settings.DEFAULT_FROM_EMAIL, recipients,
        )
    except Exception:  # the webhook already committed; a mail outage must not make Stripe retry it
        logger.exception("payment-failed e-mail for tenant %s not sent", tenant.pk)
