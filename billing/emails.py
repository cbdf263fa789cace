"""Billing e-mails to the tenant's owners and admins."""
from __future__ import annotations

from accounts.notifications import tenant_admins
from stratum.api.mail import mail_queue


def send_payment_failed(*, tenant, invoice) -> None:
    """Queued after the webhook's transaction commits; a mail outage never makes Stripe retry the webhook."""
    recipients = [user.email for user in tenant_admins(tenant=tenant)]
    if not recipients:
        return
    mail_queue(template="payment_failed", to=recipients,
               context={"tenant": tenant, "invoice": invoice, "amount": f"{invoice.amount_due:.2f} {invoice.currency}"})
