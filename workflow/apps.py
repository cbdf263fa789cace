from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "workflow"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.schedules import crontab

        from accounts.notifications import client_members_register
        from cdp.privacy_hooks import privacy_hooks_register
        from stratum.api.schedules import register

        from .selectors.clients import client_member_ids

        client_members_register(client_member_ids)
        from .cdp_link import leads_privacy_erase, leads_privacy_export

        privacy_hooks_register("workflow.leads", erase=leads_privacy_erase, export=leads_privacy_export)

        # Alerts are scheduled one by one as django-celery-beat PeriodicTask rows (workflow.services.alerts).
        register("workflow.lead_models_fit_nightly", "workflow.tasks.lead_models_fit_nightly",
                 crontab(minute=40, hour=2))
