from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "workflow"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.schedules import crontab

        from accounts.notifications import client_members_register
        from stratum.api.schedules import register

        from .selectors.clients import client_member_ids

        client_members_register(client_member_ids)

        # Alerts are scheduled one by one as django-celery-beat PeriodicTask rows (workflow.services.alerts).
        register("workflow.lead_models_fit_nightly", "workflow.tasks.lead_models_fit_nightly",
                 crontab(minute=40, hour=2))
