from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """OAuth connections, the real ad-platform connectors and CRM sync (webhooks: integrations.webhooks)."""

    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from campaigns.connectors import register as connector_register
        from stratum.api.schedules import register

        from .connectors import CONNECTORS, connector_for_ad_account

        for platform in CONNECTORS:
            connector_register(platform, connector_for_ad_account)
        from cdp.privacy_hooks import privacy_hooks_register

        from .crm.services import crm_privacy_erase, crm_privacy_export

        privacy_hooks_register("integrations.crm", erase=crm_privacy_erase, export=crm_privacy_export)
        register("integrations.connections_refresh", "integrations.tasks.connections_refresh_task", 600.0)
        register("integrations.connections_expiry_notify", "integrations.tasks.connections_expiry_notify_task",
                 3600.0)
        register("integrations.crm_syncs_schedule", "integrations.tasks.crm_syncs_schedule_task",
                 settings.CRM_SYNC_SCHEDULER_MINUTES * 60.0)
