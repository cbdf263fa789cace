from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outbound webhooks: endpoints, signed delivery from the domain-event outbox, attempts; the e-mail and
    Slack notification channels."""

    name = "integrations.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:

        from accounts.notifications import channel_register
        from stratum.api.outbox import on_commit_dispatch
        from stratum.api.schedules import register

        from . import channels, delivery

        on_commit_dispatch(delivery.outbox_dispatch_hook)
        channel_register("email", channels.email_channel)
        channel_register("slack", channels.slack_channel)
        register("webhooks.sweep", "integrations.webhooks.tasks.webhooks_sweep", 30.0)
