from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.schedules import crontab

        from stratum.api.schedules import register

        from .notifications import channel_register, channels

        channel_register("email", channels.email_channel)
        channel_register("slack", channels.slack_channel)

        register("accounts.one_time_tokens_purge", "accounts.tasks.one_time_tokens_purge", crontab(minute=17, hour=3))
        register("accounts.registrations_expire", "accounts.tasks.registrations_expire", crontab(minute=37, hour=3))
        register("accounts.blacklisted_tokens_flush", "accounts.tasks.blacklisted_tokens_flush",
                 crontab(minute=27, hour=3))


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin whose default site is the staff console with lock-out and two-factor login."""

    default = False  # named in INSTALLED_APPS in place of django.contrib.admin
    default_site = "accounts.console.ConsoleSite"
