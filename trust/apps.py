from django.apps import AppConfig


def _permit_audit_purge(sender, instance, using, **kwargs) -> None:
    """Deleting a whole tenant takes its audit log with it: the only DELETE the database guard lets through
    (SET LOCAL lasts until the deleting transaction ends)."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL stratum.audit_purge = 'on'")


class TrustConfig(AppConfig):
    name = "trust"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.schedules import crontab
        from django.conf import settings
        from django.db.models.signals import pre_delete

        from accounts.models import Tenant
        from stratum.api.schedules import register

        pre_delete.connect(_permit_audit_purge, sender=Tenant, dispatch_uid="trust.audit_purge")
        from cdp.privacy_hooks import privacy_audit_register

        from .services.audit import privacy_request_audit

        privacy_audit_register(privacy_request_audit)
        register("trust.signal_health_refresh_due", "trust.tasks.signal_health_refresh_due", 300.0)
        register("trust.rules_dispatch", "trust.tasks.rules_dispatch", 60.0)
        register("trust.autopilot_run_due", "trust.tasks.autopilot_run_due", settings.AUTOPILOT_INTERVAL_MINUTES * 60.0)
        register("trust.housekeeping", "trust.tasks.trust_housekeeping", crontab(minute=40, hour=3))
