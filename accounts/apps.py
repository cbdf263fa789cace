from django.apps import AppConfig


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

