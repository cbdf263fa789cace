"""GET /health/live, GET /health/ready and `manage.py health`: exact bodies for ready, broker down, pending
migrations; /health keeps the reference's shape."""
from __future__ import annotations

import io
import os

import pytest
from django.core.management import CommandError, call_command
from django.db.migrations import Migration
from django.db.migrations.executor import MigrationExecutor

import stratum

ON_SERVICES = os.environ.get("DATABASE_URL", "").startswith("postgres")
CLOSED_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def expected_checks(settings, **overrides) -> dict:
    broker = settings.CELERY_BROKER_URL
    checks = {
        "database": {"status": "ok"},
        "cache": {"status": "ok" if settings.REDIS_URL else "disabled"},
        "broker": {"status": "disabled" if broker.startswith("memory://") else "ok"},
        "migrations": {"status": "ok"},
    }
    return checks | overrides


@pytest.mark.django_db
def test_health_keeps_the_reference_shape(anon_client, settings):
    response = anon_client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "version": stratum.__version__,
                               "environment": settings.ENVIRONMENT, "database": "healthy",
                               "redis": "healthy" if settings.REDIS_URL else "disabled"}


def test_live_consults_no_dependency(anon_client, settings):
    """No django_db mark: touching the database here would raise."""
    settings.CELERY_BROKER_URL = CLOSED_BROKER
    response = anon_client.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.django_db
def test_ready_when_every_dependency_answers(anon_client, settings):
    response = anon_client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": expected_checks(settings)}


@pytest.mark.django_db
def test_not_ready_when_the_broker_is_down(anon_client, settings):
    settings.CELERY_BROKER_URL = CLOSED_BROKER
    response = anon_client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "detail": "Not ready: broker.",
        "code": "NOT_READY",
        "status_code": 503,
        "message": "Service unavailable",
        "errors": {"broker": ["The Celery broker is unreachable."]},
        "checks": expected_checks(settings, broker={"status": "failed",
                                                    "detail": "The Celery broker is unreachable."}),
    }


@pytest.mark.postgres
@pytest.mark.skipif(not ON_SERVICES, reason="needs RabbitMQ: run in the PostgreSQL pass (with its services)")
@pytest.mark.django_db
def test_a_broker_other_than_redis_is_the_one_checked(anon_client, settings):
    """RabbitMQ as the broker while Redis stays the cache: the broker check connects to RabbitMQ."""
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
    response = anon_client.get("/health/ready")
    assert (response.status_code, response.json()["checks"]["broker"]) == (200, {"status": "ok"})
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    response = anon_client.get("/health/ready")
    assert (response.status_code, response.json()["errors"]) == (503, {"broker": ["The Celery broker is unreachable."]})


@pytest.fixture
def pending_migration(monkeypatch):
    """The database lags the code by one migration (a deploy that forgot `migrate`)."""
    pending = Migration("0099_pending_column", "accounts")
    real_plan = MigrationExecutor.migration_plan

    def plan(self, targets, clean_start=False):
        return [*real_plan(self, targets, clean_start=clean_start), (pending, False)]

    monkeypatch.setattr(MigrationExecutor, "migration_plan", plan)


@pytest.mark.django_db
def test_not_ready_with_an_unapplied_migration(anon_client, settings, pending_migration):
    response = anon_client.get("/health/ready")
    assert response.status_code == 503
    failed = {"status": "failed", "detail": "1 unapplied migration(s).", "pending": ["accounts.0099_pending_column"]}
    assert response.json() == {
        "detail": "Not ready: migrations.",
        "code": "NOT_READY",
        "status_code": 503,
        "message": "Service unavailable",
        "errors": {"migrations": ["1 unapplied migration(s)."]},
        "checks": expected_checks(settings, migrations=failed),
    }


@pytest.mark.django_db
def test_ready_answers_without_credentials_or_rate_limit_headers(anon_client):
    response = anon_client.get("/health/ready", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response


@pytest.mark.django_db
def test_command_prints_the_checks(settings):
    out = io.StringIO()
    call_command("health", stdout=out)
    checks = expected_checks(settings)
    assert out.getvalue().splitlines() == [f"{name:<11} {checks[name]['status']}" for name in checks] + [
        "beat        unknown", "workers     disabled", "ready"]  # tests run tasks in-process: no worker to ping


@pytest.mark.django_db
def test_command_fails_when_not_ready(settings, pending_migration):
    settings.CELERY_BROKER_URL = CLOSED_BROKER
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"^Not ready: broker, migrations\.$"):
        call_command("health", stdout=out)
    assert out.getvalue().splitlines()[2:4] == [
        "broker      failed  The Celery broker is unreachable.",
        "migrations  failed  1 unapplied migration(s). (accounts.0099_pending_column)",
    ]
