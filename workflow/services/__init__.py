"""Workflow writes. Other apps call these (keyword-only, tenant first):

- `task_create(*, tenant, client, name, task_type, priority, assignees, description="", due_date=None,
  related_object_type=None, related_object_id=None, created_by=None) -> Task` (trust's `create_task` rule action).
"""
from .alert_runs import alert_run, instance_dismiss, instance_resolve
from .alerts import alert_create, alert_defaults_create, alert_delete, alert_update
from .clients import client_create
from .tasks import task_cancel, task_complete, task_create, task_update

__all__ = [
    "alert_create", "alert_defaults_create", "alert_delete", "alert_run", "alert_update", "client_create",
    "instance_dismiss", "instance_resolve", "task_cancel", "task_complete", "task_create", "task_update",
]
