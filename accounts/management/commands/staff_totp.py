"""Enrols a TOTP device (django-otp) for a member of staff and prints the otpauth:// URL for an authenticator app.

    python manage.py staff_totp ops@example.com            # adds a device named "authenticator"
    python manage.py staff_totp ops@example.com --remove   # removes the user's TOTP devices (lost phone)

From then on the console asks for the 6-digit code at login. With STAFF_REQUIRE_2FA=1 a superuser cannot use the
console without one.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User


class Command(BaseCommand):
    help = "Enrol (or --remove) a TOTP two-factor device for a staff user of the console."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="authenticator")
        parser.add_argument("--remove", action="store_true")

    def handle(self, *args, email: str, name: str, remove: bool, **options):
        user = User.objects.by_email(email).first()
        if user is None or not user.is_staff:
            raise CommandError(f"No staff user with the e-mail {email}.")
        if remove:
            count, _ = TOTPDevice.objects.filter(user=user).delete()
            self.stdout.write(f"Removed {count} TOTP device(s) of {user.email}.")
            return
        device = TOTPDevice.objects.create(user=user, name=name[:64], confirmed=True)
        self.stdout.write(f"TOTP device {device.name!r} enrolled for {user.email}. Add it to an authenticator app:\n")
        self.stdout.write(device.config_url)
