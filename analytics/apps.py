from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.schedules import crontab

        from stratum.api.schedules import register

        from .churn.fields import register as register_segment_fields

        register_segment_fields()
        register("analytics.churn_refresh_all", "analytics.tasks.churn_refresh_all", crontab(minute=40, hour=3))
