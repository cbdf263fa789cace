from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from stratum.api.entitlements import entitlements_register

        from .selectors import tenant_features, tenant_limits

        entitlements_register(features=tenant_features, limits=tenant_limits)
