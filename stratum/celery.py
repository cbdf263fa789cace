"""The Celery application. Tasks are autodiscovered from every installed app's tasks.py.

Without a broker (no REDIS_URL / CELERY_BROKER_URL) settings turn on eager mode: tasks run
in-process, and `celery beat` still fires periodic jobs, executing them inside the beat process.
"""
import contextvars
import logging
import os
import sys

from celery import Celery, Task, bootsteps, signals
from celery.exceptions import Retry
from kombu.exceptions import OperationalError as BrokerUnavailable

from stratum.api import metrics, observability

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
        # The request id and tenant id of whoever queues the task travel in its headers (stratum.api.observability).
        options["headers"] = {**observability.task_context_headers(), **(options.get("headers") or {})}
        try:
            return super().apply_async(args, kwargs, task_id, producer, link, link_error, shadow, **options)
        except BrokerUnavailable as exc:
            if not serving_request.get() or options.get("countdown") or options.get("eta"):
                raise
            logger.warning("task broker unavailable (%s): running %s in this process", exc, self.name)
            return self.apply(args, kwargs, task_id=task_id, link=link, link_error=link_error,
                              headers=options.get("headers"))


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes the worker's heartbeat row every BEAT_HEARTBEAT_SECONDS on the worker's own timer, and removes it on a
    clean stop (stratum.api.heartbeat): health, metrics and the console read who is alive without a broadcast."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        from django.conf import settings

        from stratum.api.heartbeat import worker_beat

        worker_beat(hostname=worker.hostname)
        self.tref = worker.timer.call_repeatedly(settings.BEAT_HEARTBEAT_SECONDS, worker_beat,
                                                 kwargs={"hostname": worker.hostname})

    def stop(self, worker):
        from stratum.api.heartbeat import worker_gone

        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        worker_gone(hostname=worker.hostname)

    terminate = stop  # a cold shutdown too (StartStopStep's own terminate only stops an `obj`)


app = Celery("stratum", task_cls=StratumTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.steps["worker"].add(WorkerHeartbeat)
app.autodiscover_tasks()


# task id -> its read scope's token (read-your-writes per task, stratum.api.replicas); empty without replicas.
_replica_scopes: dict[str, contextvars.Token | None] = {}


@signals.task_prerun.connect
def _task_prerun(sender=None, task_id=None, task=None, args=None, kwargs=None, **_):
    observability.task_started(task_id=task_id, task=task, kwargs=kwargs)
    from stratum.api import replicas  # needs the app registry: imported once Django is set up

    token = replicas.task_scope_enter()
    if token is not None:
        _replica_scopes[task_id] = token


@signals.task_postrun.connect
def _task_postrun(sender=None, task_id=None, task=None, state=None, **_):
    if state is None:  # run in-process with errors propagated: the exception is on its way out through here
        error = sys.exc_info()[1]
        state = None if error is None else "RETRY" if isinstance(error, Retry) else "FAILURE"
    from stratum.api import replicas

    replicas.task_scope_exit(_replica_scopes.pop(task_id, None))
    seconds = observability.task_finished(task_id=task_id, task=task, state=state)
    outcome = (state or "unknown").lower()
    if seconds is not None:
        metrics.TASK_SECONDS.labels(task=task.name, outcome=outcome).observe(seconds)
    if outcome == "failure":
        metrics.TASK_FAILURES.labels(task=task.name).inc()
