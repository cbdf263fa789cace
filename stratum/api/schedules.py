"""Schedules. Fixed periodic jobs: apps call `register()` from AppConfig.ready(); beat reads CELERY_BEAT_SCHEDULE.

Schedules that users edit (alerts, report schedules) are django-celery-beat PeriodicTask rows, one per owning row,
written by `periodic_task_upsert()` and removed by `periodic_task_delete()`.
"""
from __future__ import annotations

import json

from celery.schedules import crontab, schedule
from django.conf import settings
from django.db import models
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask


def register(name: str, task: str, every: schedule | crontab | float, **options) -> None:
    settings.CELERY_BEAT_SCHEDULE[name] = {"task": task, "schedule": every, **({"options": options} if options else {})}


def periodic_task_upsert(*, owner: models.Model, name: str, task: str, crontab_fields: dict, kwargs: dict,
                         enabled: bool, description: str, reset: bool = False) -> PeriodicTask:
    """Creates or updates the PeriodicTask `name` that runs `task(**kwargs)` on the crontab (minute, hour,
    day_of_week, day_of_month, month_of_year, timezone), and links it to `owner` (a tenant-owned row with a
    `periodic_task` FK). `reset` (a new schedule, a changed time) restarts it from now, so a moved time does not fire a
    catch-up run for a slot already past."""
    schedule_row = (CrontabSchedule.objects.filter(**crontab_fields).order_by("id").first()
                    or CrontabSchedule.objects.create(**crontab_fields))
    defaults = {"task": task, "crontab": schedule_row, "interval": None, "kwargs": json.dumps(kwargs),
                "enabled": enabled, "description": description}
    if reset:
        defaults["last_run_at"] = timezone.now()
    periodic, _ = PeriodicTask.objects.update_or_create(name=name, defaults=defaults)
    if owner.periodic_task_id != periodic.pk:
        type(owner).objects.for_tenant(owner.tenant_id).filter(pk=owner.pk).update(periodic_task=periodic)
        owner.periodic_task = periodic
    return periodic


def periodic_task_delete(*, task_id) -> None:
    if task_id:
        PeriodicTask.objects.filter(pk=task_id).delete()
