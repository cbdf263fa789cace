"""Signs of life of the Celery side: beat's heartbeat, the workers' ping, the queues' depth.

Beat runs `HeartbeatScheduler` (django-celery-beat's database scheduler), which writes the `beat` heartbeat row at
most every `BEAT_HEARTBEAT_SECONDS` and wakes at least that often, so an idle beat still beats. The lag (seconds since
that row was written) is shown to staff in /health, in the metrics (`stratum_beat_lag_seconds`) and by
`manage.py health`; beat is `late` past `BEAT_MAX_LAG_SECONDS`.

Each worker writes a heartbeat row of its own (`worker:<host name>`) on the same rhythm, from a bootstep on the
worker's timer (stratum/celery.py), and deletes it when it stops cleanly; a worker counts as alive while its row is at
most `BEAT_MAX_LAG_SECONDS` old. A read costs one indexed query, whichever host asks — unlike Celery's broadcast ping,
which always waits out its timeout, and cost every metrics scrape and console page a second. With no broker (tasks
run in-process, `make run` without Redis) there are no workers to show.
"""
from __future__ import annotations

import datetime as dt
import logging
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from .queueing import tasks_have_a_broker

logger = logging.getLogger("stratum.health")

BEAT = "beat"
WORKER = "worker:"  # + the worker's host name


def broker_enabled() -> bool:
    return tasks_have_a_broker() and not settings.CELERY_TASK_ALWAYS_EAGER


def heartbeat_write(*, name: str = BEAT) -> None:
    from .models import Heartbeat

    Heartbeat.objects.update_or_create(name=name, defaults={"at": timezone.now()})


def beat_lag_seconds() -> float | None:
    """Seconds since beat's last heartbeat; None when beat never wrote one (or the database is down)."""
    from .models import Heartbeat

    try:
        at = Heartbeat.objects.filter(name=BEAT).values_list("at", flat=True).first()
    except Exception as exc:
        logger.warning("health: beat heartbeat unreadable: %s", exc)
        return None
    return None if at is None else max(0.0, (timezone.now() - at).total_seconds())


def beat_status() -> dict:
    lag = beat_lag_seconds()
    if lag is None:
        return {"status": "unknown", "detail": "Beat has never written a heartbeat."}
    status = "ok" if lag <= settings.BEAT_MAX_LAG_SECONDS else "late"
    return {"status": status, "lag_seconds": round(lag, 1)}


def worker_beat(*, hostname: str) -> None:
    """A worker's sign of life (its timer calls it every BEAT_HEARTBEAT_SECONDS). A database that is down costs a
    log line, not the worker."""
    try:
        heartbeat_write(name=(WORKER + hostname)[:64])
    except Exception as exc:
        logger.warning("worker heartbeat not written: %s", exc)
    finally:
        connection.close()  # the timer's own: no idle connection held between beats (a reconnect each interval)


def worker_gone(*, hostname: str) -> None:
    """A clean stop removes the worker's row at once (a killed worker's ages out)."""
    from .models import Heartbeat

    try:
        Heartbeat.objects.filter(name=(WORKER + hostname)[:64]).delete()
    except Exception as exc:
        logger.warning("worker heartbeat not removed: %s", exc)
    finally:
        connection.close()


def workers_alive() -> list[str] | None:
    """Host names of the workers whose heartbeat is at most BEAT_MAX_LAG_SECONDS old; None with no broker."""
    if not broker_enabled():
        return None
    from .models import Heartbeat

    since = timezone.now() - dt.timedelta(seconds=settings.BEAT_MAX_LAG_SECONDS)
    try:
        names = list(Heartbeat.objects.filter(name__startswith=WORKER, at__gte=since).values_list("name", flat=True))
    except Exception as exc:
        logger.warning("health: worker heartbeats unreadable: %s", exc)
        return []
    return sorted(name[len(WORKER):] for name in names)


def workers_status() -> dict:
    workers = workers_alive()
    if workers is None:
        return {"status": "disabled"}
    return {"status": "ok" if workers else "none", "workers": workers}


def queue_depths() -> dict[str, int]:
    """Messages waiting per Celery queue (default queue and declared ones); {} with no broker or when unreachable."""
    if not broker_enabled():
        return {}
    from celery import current_app
    from kombu import Connection
    from kombu.exceptions import ChannelError

    names = [current_app.conf.task_default_queue]
    names += [queue.name for queue in (current_app.conf.task_queues or []) if queue.name not in names]
    depths = {}
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2,
                        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS) as conn:
            channel = conn.default_channel
            for name in names:
                try:
                    depths[name] = channel.queue_declare(queue=name, passive=True).message_count
                except ChannelError:  # never declared yet (no worker consumed it, nothing queued): empty
                    depths[name] = 0
    except Exception as exc:
        logger.warning("metrics: queue depth unreadable: %s", exc)
    return depths


class HeartbeatScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler that also writes beat's heartbeat (CELERY_BEAT_SCHEDULER)."""

    _last_beat = 0.0

    def tick(self, *args, **kwargs):
        interval = settings.BEAT_HEARTBEAT_SECONDS
        now = time.monotonic()
        if now - self._last_beat >= interval:
            try:
                heartbeat_write()
                self._last_beat = now
            except Exception as exc:  # the database is down: beat goes on, the lag shows it
                logger.warning("beat heartbeat not written: %s", exc)
        return min(super().tick(*args, **kwargs), interval)
