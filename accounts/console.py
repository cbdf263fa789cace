"""The staff console (Django admin) with the same lock-out as the API and optional TOTP two-factor (django-otp).

- The login form authenticates through `authenticate()`, so axes' backend and `accounts.lockout` count and refuse
  console attempts exactly as API logins (one mechanism, one set of counters).
- A member of staff with a confirmed TOTP device (added in the console under "TOTP devices", or with
  `manage.py staff_totp <email>`) must give its 6-digit code at login; the session then counts as verified.
- `STAFF_REQUIRE_2FA=1`: a superuser needs a verified session for every console page; one without a device
  cannot sign in until a device is enrolled with `manage.py staff_totp`.
"""
from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.sites import AdminSite
from django_otp import devices_for_user, user_has_device
from django_otp.forms import OTPAuthenticationFormMixin

TWO_FACTOR_REQUIRED = ("Two-factor authentication is required for superusers: enrol a TOTP device with "
                       "`manage.py staff_totp <email>`, then sign in with its code.")


def two_factor_needed(user) -> bool:
    """Whether this user must pass a one-time code: any device enrolled, or a superuser under STAFF_REQUIRE_2FA."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user_has_device(user, confirmed=True) or (settings.STAFF_REQUIRE_2FA and user.is_superuser)


class ConsoleLoginForm(AdminAuthenticationForm, OTPAuthenticationFormMixin):
    otp_device = forms.CharField(required=False, widget=forms.Select)
    otp_token = forms.CharField(required=False, label="One-time code (if two-factor is on)",
                                widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}))
    otp_challenge = forms.CharField(required=False)

    def _chosen_device(self, user):
        """The device picked in the form, or the user's only one (so one submit with the code signs in)."""
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True, for_verify=True))
            device = devices[0] if len(devices) == 1 else None
        return device

    def clean(self):
        self.cleaned_data = super().clean()
        user = self.get_user()
        if two_factor_needed(user):
            if not any(True for _ in devices_for_user(user, confirmed=True)):
                raise forms.ValidationError(TWO_FACTOR_REQUIRED, code="two_factor_required")
            self.clean_otp(user)
        return self.cleaned_data


class ConsoleSite(AdminSite):
    login_form = ConsoleLoginForm
    login_template = "otp/admin111/login.html"
    site_header = "Stratum staff console"

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        return not two_factor_needed(request.user) or request.user.is_verified()
