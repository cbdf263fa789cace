"""Fixed periodic jobs. Apps call `register()` from AppConfig.ready(); beat reads CELERY_BEAT_SCHEDULE.

Schedules that users edit (alerts, reports) are django-celery-beat PeriodicTask rows instead.
"""
from __future__ import annotations

from celery.schedules import crontab, schedule
from django.conf import settings


def register(name: str, task: str, every: schedule | crontab | float, **options) -> None:
    settings.CELERY_BEAT_SCHEDULE[name] = {"task": task, "schedule": every, **({"options": options} if options else {})}
