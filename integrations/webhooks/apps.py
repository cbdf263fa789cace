from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outbound webhooks: endpoints, signed delivery from the domain-event outbox, attempts."""

    name = "integrations.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from stratum.api.outbox import on_commit_dispatch
        from stratum.api.schedules import register

        from . import delivery

        on_commit_dispatch(delivery.outbox_dispatch_hook)
        register("webhooks.sweep", "integrations.webhooks.tasks.webhooks_sweep", 30.0)
