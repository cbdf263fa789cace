"""GET /health: the process is up; database and redis each healthy/unhealthy/disabled (staff also see Celery: beat's
heartbeat, the workers that answer a ping, the queues' depth). GET /health/live: the process answers.
GET /health/ready: database, cache, broker, migrations (200 or 503)."""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .errors import NOT_READY
from .exceptions import error_body
from .queueing import tasks_have_a_broker
from .version import VERSION

logger = logging.getLogger("stratum.health")


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy"])
    version = serializers.CharField()
    environment = serializers.CharField()
    database = serializers.ChoiceField(choices=["healthy", "unhealthy"])
    redis = serializers.ChoiceField(choices=["healthy", "unhealthy", "disabled"])
    celery = serializers.DictField(required=False, help_text=(
        "Staff only (a staff JWT, API key or console session): {beat: {status: ok|late|unknown, lag_seconds}, "
        "workers: {status: ok|none|disabled, workers: [host names]}, queues: {name: messages waiting}}."))


HEALTH_RESPONSES = {200: HealthSerializer, 503: HealthSerializer}


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "healthy"
    except Exception as exc:
        logger.warning("health: database unhealthy: %s", exc)
        try:
            connection.close()
        except Exception:
            pass
        return "unhealthy"


def redis_status() -> str:
    if not settings.REDIS_URL:
        return "disabled"
    try:
        from django_redis import get_redis_connection

        get_redis_connection("default").ping()
        return "healthy"
    except Exception as exc:
        logger.warning("health: redis unhealthy: %s", exc)
        return "unhealthy"


def health_report() -> tuple[dict, int]:
    database = database_status()
    redis = redis_status()
    if database != "healthy":
        status = "unhealthy"
    elif redis == "unhealthy":
        status = "degraded"
    else:
        status = "healthy"
    body = {"status": status, "version": VERSION, "environment": settings.ENVIRONMENT,
            "database": database, "redis": redis}
    return body, (503 if database != "healthy" else 200)


class HealthView(APIView):
    """Liveness and dependencies. 503 when the database is down; Redis down is `degraded`."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(auth=[], responses=HEALTH_RESPONSES, tags=["health"])
    def get(self, request):
        body, status = health_report()
        if _is_staff(request):
            body["celery"] = celery_report()
        return Response(body, status=status)


def celery_report() -> dict:
    from .heartbeat import beat_status, queue_depths, workers_status

    return {"beat": beat_status(), "workers": workers_status(), "queues": queue_depths()}


def _is_staff(request) -> bool:
    """A staff console session, or a staff user's JWT / API key. A bad credential is no credential here: /health
    answers anonymous callers alike."""
    user = getattr(request._request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    from rest_framework.settings import api_settings

    for authentication in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        try:
            result = authentication().authenticate(request)
        except Exception:
            continue
        if result is not None:
            return bool(getattr(result[0], "is_staff", False))
    return False


class ApiHealthView(HealthView):
    """The same report under /api/v1/health."""

    @extend_schema(auth=[], responses=HEALTH_RESPONSES, tags=["health"], operation_id="api_v1_health_retrieve")
    def get(self, request):
        return super().get(request)


# --- /health/live and /health/ready -----------------------------------------------------------------------------
CHECK_OK, CHECK_FAILED, CHECK_DISABLED, CHECK_SKIPPED = "ok", "failed", "disabled", "skipped"
BROKER_TIMEOUT_SECONDS = 2
READY_CHECKS = ("database", "cache", "broker", "migrations")


def _failed(detail: str, **more) -> dict:
    return {"status": CHECK_FAILED, "detail": detail, **more}


def check_database() -> dict:
    if database_status() == "healthy":
        return {"status": CHECK_OK}
    return _failed("The database is unreachable.")


def check_cache() -> dict:
    if not settings.REDIS_URL:
        return {"status": CHECK_DISABLED}  # per-process local memory: nothing to reach
    if redis_status() == "healthy":
        return {"status": CHECK_OK}
    return _failed("The cache (Redis) is unreachable.")


def check_broker() -> dict:
    if not tasks_have_a_broker():
        return {"status": CHECK_DISABLED}  # no broker: tasks run in-process
    url = settings.CELERY_BROKER_URL
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS,
                        transport_options={"socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
                                           "socket_timeout": BROKER_TIMEOUT_SECONDS}) as conn:
            conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
        return {"status": CHECK_OK}
    except Exception as exc:
        logger.warning("health: broker unreachable: %s", exc)
        return _failed("The Celery broker is unreachable.")


def pending_migrations() -> list[str]:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def check_migrations(*, database_ok: bool) -> dict:
    if not database_ok:
        return {"status": CHECK_SKIPPED}
    try:
        pending = pending_migrations()
    except Exception as exc:
        logger.warning("health: migration state unknown: %s", exc)
        return _failed("The migration state could not be read.")
    if pending:
        return _failed(f"{len(pending)} unapplied migration(s).", pending=pending)
    return {"status": CHECK_OK}


def readiness_report() -> tuple[dict, int]:
    """200 {"status": "ready", "checks": {...}} or 503 in the error format, `errors` naming each failed check."""
    database = check_database()
    checks = {"database": database, "cache": check_cache(), "broker": check_broker(),
              "migrations": check_migrations(database_ok=database["status"] == CHECK_OK)}
    failed = [name for name in READY_CHECKS if checks[name]["status"] == CHECK_FAILED]
    if not failed:
        return {"status": "ready", "checks": checks}, 200
    body = error_body(503, f"Not ready: {', '.join(failed)}.", NOT_READY,
                      errors={name: [checks[name]["detail"]] for name in failed})
    return body | {"checks": checks}, 503


class LiveView(APIView):
    """Liveness: the process answers. No dependency is consulted."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(auth=[], tags=["health"], responses={200: inline_serializer(
        "HealthLive", {"status": serializers.ChoiceField(choices=["ok"])})})
    def get(self, request):
        return Response({"status": "ok"})


class ReadyView(APIView):
    """Readiness: database, cache and Celery broker reachable, no unapplied migration. 503 otherwise."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(auth=[], tags=["health"], responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT})
    def get(self, request):
        body, status = readiness_report()
        return Response(body, status=status)
