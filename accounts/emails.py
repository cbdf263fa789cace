"""Transactional e-mails (templates under accounts/templates/mail/). Links point at FRONTEND_URL.

Called by the `accounts.tasks.mail_send` task (queued after commit), so each queues its delivery task
(stratum/api/mail.py, retried when the SMTP server fails) at once."""
from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings

from stratum.api.choices import Choices
from stratum.api.mail import mail_queue


class MailKind(Choices):
    """The account e-mails (accounts.tasks.mail_send sends one of each kind)."""

    VERIFICATION = "verification"
    PASSWORD_RESET = "password_reset"
    INVITATION = "invitation"
    REGISTRATION_ATTEMPT = "registration_attempt"
    INVITATION_UNAVAILABLE = "invitation_unavailable"


def _link(path: str, token: str) -> str:
    return f"{settings.FRONTEND_URL}{path}?{urlencode({'token': token})}"


def send_verification(*, user, token: str) -> None:
    mail_queue(on_commit=False, template="verification", to=[user.email],
               context={"user": user, "link": _link("/verify-email", token)})


def send_password_reset(*, user, token: str) -> None:
    mail_queue(on_commit=False, template="password_reset", to=[user.email],
               context={"user": user, "link": _link("/reset-password", token)})


def send_invitation(*, user, invited_by, token: str) -> None:
    mail_queue(on_commit=False, template="invitation", to=[user.email],
               context={"user": user, "inviter": invited_by.name or invited_by.email,
                        "link": _link("/accept-invite", token)})


def send_registration_attempt(*, user, token: str) -> None:
    """To the owner of an address someone tried to register again (the answer to the registrant says nothing)."""
    mail_queue(on_commit=False, template="registration_attempt", to=[user.email],
               context={"user": user, "link": _link("/reset-password", token)})


def send_invitation_unavailable(*, user, inviter_name: str, tenant_name: str) -> None:
    """To the owner of an address another workspace invited while it belongs to an account elsewhere."""
    mail_queue(on_commit=False, template="invitation_unavailable", to=[user.email],
               context={"user": user, "inviter_name": inviter_name, "tenant_name": tenant_name})
