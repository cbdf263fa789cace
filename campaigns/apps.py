from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from stratum.api.schedules import register

        from .connectors import register as connector_register
        from .connectors.demo import DemoConnector

        connector_register("demo", DemoConnector)
        register("campaigns.ad_accounts_sync_all", "campaigns.tasks.ad_accounts_sync_all",
                 settings.CAMPAIGNS_SYNC_INTERVAL_MINUTES * 60.0)
