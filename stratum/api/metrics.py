"""The product's Prometheus metrics, all defined here; services increment them where the thing happens.

Requests and database queries are counted by django-prometheus (its middleware and database wrappers). `/metrics`
serves both to `Authorization: Bearer $METRICS_TOKEN` only: unset, the route answers 404 like any unknown path; a
missing or wrong token answers 404 too (nothing tells a scanner the route exists).

Several processes: with `PROMETHEUS_MULTIPROC_DIR` set (a directory shared by the gunicorn workers and Celery workers
of one host, emptied before they start) prometheus_client writes every process's values to files there and `/metrics`
adds them up; without it each process serves its own values. Queue depth, beat lag and worker replies are read when
`/metrics` is scraped (they describe the system, not the process).
"""
from __future__ import annotations

import hmac
import logging
import os

from django.conf import settings
from django.http import Http404, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger("stratum.metrics")

_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

# CDP ingestion
EVENTS_INGESTED = Counter("stratum_events_ingested_total", "Events stored by the CDP (duplicates and rejections not "
                          "counted).", ["source"])
EVENTS_REJECTED = Counter("stratum_events_rejected_total", "Event items rejected inside an accepted batch.", ["source"])
BATCHES_REJECTED = Counter("stratum_batches_rejected_total", "Whole event batches refused: too_many_events, malformed (not a list "
                           "of events).", ["reason"])
IDENTITY_MERGES = Counter("stratum_identity_merges_total", "Profiles merged by identity resolution.")
SEGMENT_REFRESH_SECONDS = Histogram("stratum_segment_refresh_seconds", "Time to recompute one segment's members.",
                                    buckets=_DURATION_BUCKETS)
# Syncs
AUDIENCE_SYNCS = Counter("stratum_audience_syncs_total", "Audience uploads to ad platforms by outcome.",
                         ["platform", "outcome"])
CRM_SYNCS = Counter("stratum_crm_syncs_total", "CRM sync runs by outcome.", ["provider", "outcome"])
# Webhooks, autopilot, limits
WEBHOOK_DELIVERIES = Counter("stratum_webhook_delivery_attempts_total", "Webhook delivery attempts by outcome.",
                             ["outcome"])
AUTOPILOT_ACTIONS = Counter("stratum_autopilot_actions_total", "Autopilot actions by kind and resulting status.",
                            ["action", "status"])
RATE_LIMIT_REFUSALS = Counter("stratum_rate_limit_refusals_total", "Requests answered 429 by the rate limiter.",
                              ["limit"])
EMAILS = Counter("stratum_emails_total", "E-mail delivery attempts by template and outcome (sent, failed).",
                 ["template", "outcome"])
# Celery
TASK_SECONDS = Histogram("stratum_celery_task_duration_seconds", "Celery task run time by task and outcome.",
                         ["task", "outcome"], buckets=_DURATION_BUCKETS)
TASK_FAILURES = Counter("stratum_celery_task_failures_total", "Celery tasks that ended in failure.", ["task"])
# Read replicas (only with DATABASE_REPLICA_URLS): opted-in reads by where they went and why
DB_READS_ROUTED = Counter("stratum_db_reads_routed_total", "Opted-in heavy reads by target (replica, primary) and "
                          "reason (replica, scope_wrote, in_transaction, tenant_wrote, replica_lagging).",
                          ["target", "reason"])


def counter_value(counter, **labels) -> float:
    """The current value of a counter (this process) — for tests and `manage.py health`."""
    metric = counter.labels(**labels) if labels else counter
    return metric._value.get()


class SystemCollector:
    """Gauges read at scrape time: Celery queue depth, seconds since beat's last heartbeat, workers alive."""

    def collect(self):
        from .heartbeat import beat_lag_seconds, queue_depths, workers_alive

        depth = GaugeMetricFamily("stratum_celery_queue_depth", "Messages waiting in a Celery queue.",
                                  labels=["queue"])
        for queue, count in queue_depths().items():
            depth.add_metric([queue], count)
        yield depth
        lag = beat_lag_seconds()
        if lag is not None:
            yield GaugeMetricFamily("stratum_beat_lag_seconds", "Seconds since Celery beat last wrote its heartbeat.",
                                    value=lag)
        workers = workers_alive()
        if workers is not None:
            yield GaugeMetricFamily("stratum_celery_workers_responding",
                                    "Celery workers whose heartbeat is at most BEAT_MAX_LAG_SECONDS old.",
                                    value=len(workers))


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessRegistry())
    registry.register(SystemCollector())
    return registry


class _ProcessRegistry:
    """This process's default registry (django-prometheus and the metrics above), as one collector."""

    def collect(self):
        return REGISTRY.collect()


def metrics_authorized(header: str) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return False
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_view(request):
    """GET /metrics: the Prometheus text exposition, to the bearer of METRICS_TOKEN only (404 otherwise)."""
    if not metrics_authorized(request.META.get("HTTP_AUTHORIZATION", "")):
        raise Http404
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
