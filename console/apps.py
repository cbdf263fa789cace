from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django_otp.plugins.otp_totp import apps as otp_totp_apps


class ConsoleConfig(AppConfig):
    default = True  # the app "console" itself (this module holds two framework apps' configs too)
    name = "console"
    verbose_name = "Staff console"
    default_auto_field = "django.db.models.BigAutoField"


class TotpConfig(otp_totp_apps.DefaultConfig):
    """django-otp's TOTP devices, named for staff in the console's breadcrumbs."""

    default = False  # named in INSTALLED_APPS in place of django_otp.plugins.otp_totp
    verbose_name = "Staff two-factor"


class StaffAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin whose default site is the Stratum console (accounts.console.ConsoleSite's lock-out and
    two-factor login, with the console's grouping, overview and branding)."""

    default = False  # named in INSTALLED_APPS in place of django.contrib.admin
    default_site = "console.site.StratumConsoleSite"
