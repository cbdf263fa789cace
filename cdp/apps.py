from django.apps import AppConfig


class CdpConfig(AppConfig):
    name = "cdp"
    verbose_name = "CDP"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.schedules import crontab

        from stratum.api.schedules import register

        from .segmentation import fields  # noqa: F401  (built-in segment fields)

        register("cdp.rfm_recompute_all", "cdp.tasks.rfm_recompute_all", crontab(minute=10, hour=2))
        register("cdp.segments_refresh_all", "cdp.tasks.segments_refresh_all", crontab(minute=5))
        register("cdp.audiences_sync_due", "cdp.tasks.audiences_sync_due", crontab(minute="*/15"))
        register("cdp.exports_expire_all", "cdp.tasks.exports_expire_all", crontab(minute=25))
        register("cdp.privacy_requests_resume_all", "cdp.tasks.privacy_requests_resume_all", crontab(minute="*/5"))
        register("cdp.events_retention_all", "cdp.tasks.events_retention_all", crontab(minute=30, hour=4))
        register("cdp.event_partitions_maintain", "cdp.tasks.event_partitions_maintain_task", crontab(minute=15, hour=4))
        register("cdp.journeys_catch_up_all", "cdp.tasks.journeys_catch_up_all", crontab(minute="*"))
        register("cdp.message_claims_prune", "cdp.tasks.message_claims_prune_task", crontab(minute=40))
