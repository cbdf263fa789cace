"""Transactional e-mails. Links point at FRONTEND_URL."""
from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail

from stratum.api.choices import Choices


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
    link = _link("/verify-email", token)
    send_mail(
        "Verify your Stratum e-mail address",
        f"Hello {user.name or user.email},\n\nConfirm your e-mail address for Stratum:\n{link}\n\n"
        "The link is valid for 7 days.\n",
        settings.DEFAULT_FROM_EMAIL, [user.email],
    )


def send_password_reset(*, user, token: str) -> None:
    link = _link("/reset-password", token)
    send_mail(
        "Reset your Stratum password",
        f"Hello {user.name or user.email},\n\nSomeone asked to reset your Stratum password. If it was you, "
        f"open this link within one hour:\n{link}\n\nThe link works once. If it was not you, ignore this e-mail.\n",
        settings.DEFAULT_FROM_EMAIL, [user.email],
    )


def send_invitation(*, user, invited_by, token: str) -> None:
    link = _link("/accept-invite", token)
    send_mail(
        f"{invited_by.name or invited_by.email} invited you to Stratum",
        f"Hello {user.name or user.email},\n\n{invited_by.name or invited_by.email} invited you to join "
        f"{user.tenant.name} on Stratum as {user.role}. Set your password here (valid for 7 days):\n{link}\n",
        settings.DEFAULT_FROM_EMAIL, [user.email],
    )


def send_registration_attempt(*, user, token: str) -> None:
    """To the owner of an address someone tried to register again (the answer to the registrant says nothing)."""
    link = _link("/reset-password", token)
    send_mail(
        "Someone tried to sign up with your e-mail address",
        f"Hello {user.name or user.email},\n\nSomeone tried to create a Stratum account with {user.email}, which "
        "already has one. If it was you, sign in — or set a new password here (valid for one hour; it also confirms "
        f"the address is yours):\n{link}\n\nIf it was not you, ignore this e-mail: nothing was changed.\n",
        settings.DEFAULT_FROM_EMAIL, [user.email],
    )


def send_invitation_unavailable(*, user, inviter_name: str, tenant_name: str) -> None:
    """To the owner of an address another workspace invited while it belongs to an account elsewhere."""
    send_mail(
        f"{inviter_name} invited you to Stratum",
        f"Hello {user.name or user.email},\n\n{inviter_name} invited {user.email} to join {tenant_name} on Stratum, "
        "but this address already belongs to a Stratum account in another workspace, and an address can belong to "
        "one workspace only. Ask them to invite another address of yours.\n",
        settings.DEFAULT_FROM_EMAIL, [user.email],
    )
