"""Transactional e-mails. Links point at FRONTEND_URL."""
from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail


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
