"""GET /health: the process is up; database and redis each healthy/unhealthy/disabled."""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

import stratum

logger = logging.getLogger("stratum.health")


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy"])
    version = serializers.CharField()
    environment = serializers.CharField()
    database = serializers.ChoiceField(choices=["healthy", "unhealthy"])
    redis = serializers.ChoiceField(choices=["healthy", "unhealthy", "disabled"])


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
    body = {"status": status, "version": stratum.__version__, "environment": settings.ENVIRONMENT,
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
        return Response(body, status=status)


class ApiHealthView(HealthView):
    """The same report under /api/v1/health."""

    @extend_schema(auth=[], responses=HEALTH_RESPONSES, tags=["health"], operation_id="api_v1_health_retrieve")
    def get(self, request):
        return super().get(request)
