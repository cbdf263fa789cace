from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Staff console"
    default_auto_field = "django.db.models.BigAutoField"


class StaffAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin whose default site is the Stratum console (accounts.console.ConsoleSite's lock-out and
    two-factor login, with the console's grouping, overview and branding)."""

    default = False  # named in INSTALLED_APPS in place of django.contrib.admin
    default_site = "console.site.StratumConsoleSite"
