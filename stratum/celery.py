"""The Celery application. Tasks are autodiscovered from every installed app's tasks.py.

Without a broker (no REDIS_URL / CELERY_BROKER_URL) settings turn on eager mode: tasks run
in-process, and `celery beat` still fires periodic jobs, executing them inside the beat process.
"""
import contextvars
import logging
import os

from celery import Celery, Task
from kombu.exceptions import OperationalError as BrokerUnavailable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stratum.settings")

logger = logging.getLogger("stratum.tasks")

# True while a web request is being served (set by stratum.api.middleware.ApiResponseMiddleware).
serving_request: contextvars.ContextVar[bool] = contextvars.ContextVar("serving_request", default=False)


class StratumTask(Task):
    """While the broker (Redis) is unreachable, a job that a web request queues runs in that request's process
    instead: what the request promised (a report, a recompute, a first sync) is done, not lost, and the caller
    gets its answer, only later. Delayed jobs (countdown/eta) and jobs queued outside a request raise as before;
    their callers' sweepers and schedules catch up once the broker is back."""

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None,
                    shadow=None, **options):
        try:
            return super().apply_async(args, kwargs, task_id, producer, link, link_error, shadow, **options)
        except BrokerUnavailable as exc:
            if not serving_request.get() or options.get("countdown") or options.get("eta"):
                raise
            logger.warning("task broker unavailable (%s): running %s in this process", exc, self.name)
            return self.apply(args, kwargs, task_id=task_id, link=link, link_error=link_error)


app = Celery("stratum", task_cls=StratumTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
