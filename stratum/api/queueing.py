"""The one way a service queues work: by the task's name, after the surrounding transaction commits.

Tasks import services; services never import tasks (that would be a cycle). A service says what to run by name:

    task_enqueue(name="cdp.tasks.export_build_task", kwargs={"tenant_id": str(tenant.pk), "export_id": ...})

The task is looked up in the Celery app's registry (its module imported first, so a web process that never imported
it finds it too) and sent with `apply_async`, so eager mode and the broker-down fallback of `stratum.celery` apply.
With `best_effort=True` an error while sending is logged instead of raised: for work a sweeper picks up anyway.

The request id and tenant id in scope when `task_enqueue` is called (not when the transaction commits) go into the
message headers, so the task's log lines (and its trace) join the request that queued it.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping

from celery import current_app
from django.conf import settings
from django.db import transaction

from .observability import task_context_headers

logger = logging.getLogger("stratum.tasks")


def tasks_have_a_broker() -> bool:
    """A broker is configured (tests run its tasks eagerly all the same). Without one every task runs in-process,
    inside the request that queued it, so work a periodic sweep also does is better left to the sweep."""
    url = settings.CELERY_BROKER_URL
    return bool(url) and not url.startswith("memory://")


def _task(name: str):
    tasks = current_app.tasks
    if name not in tasks:
        importlib.import_module(name.rpartition(".")[0])
    return tasks[name]


def _send(name: str, kwargs: Mapping, countdown: float, best_effort: bool, headers: dict) -> None:
    options = {"countdown": countdown} if countdown > 0 else {}
    options["headers"] = headers
    try:
        _task(name).apply_async(kwargs=dict(kwargs), **options)
    except Exception:
        if not best_effort:
            raise
        ids = {key: value for key, value in kwargs.items() if key.endswith("_id")}  # never bodies or tokens
        logger.exception("could not queue %s %s; its sweeper will catch up", name, ids)


def task_enqueue(*, name: str, kwargs: Mapping | None = None, on_commit: bool = True, countdown: float = 0,
                 best_effort: bool = False) -> None:
    """Queue the task `name` with `kwargs` (JSON-able ids and values) after commit, or now with `on_commit=False`."""
    kwargs = dict(kwargs or {})
    headers = task_context_headers()
    if on_commit:
        transaction.on_commit(lambda: _send(name, kwargs, countdown, best_effort, headers))
    else:
        _send(name, kwargs, countdown, best_effort, headers)
