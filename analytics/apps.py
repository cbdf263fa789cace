from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.schedules import crontab

        from cdp.predictions import predictions_reader_register
        from stratum.api.schedules import register

        from .churn.fields import register as register_segment_fields
        from .churn.selectors import predictions_by_profile, predictions_join

        register_segment_fields()
        predictions_reader_register(predictions_by_profile, join=predictions_join)
        from cdp.privacy_hooks import privacy_hooks_register

        from .churn.selectors import churn_privacy_export

        privacy_hooks_register("analytics.churn", export=churn_privacy_export)
        register("analytics.weekly_digests", "analytics.tasks.weekly_digests", crontab(minute=5))
        register("analytics.report_deliveries_unanswered", "analytics.tasks.report_deliveries_unanswered",
                 crontab(minute=50))
        register("analytics.churn_refresh_all", "analytics.tasks.churn_refresh_all", crontab(minute=40, hour=3))
