from django.apps import AppConfig


class CdpConfig(AppConfig):
    name = "cdp"
    default_auto_field = "django.db.models.BigAutoField"
