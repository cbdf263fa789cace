"""The fault suite runs the real services: a private redis-server, a private PostgreSQL cluster, gunicorn and Celery
worker processes. Tests that need them skip, with the reason, on the SQLite pass and where a binary is missing."""
from __future__ import annotations

import os

import pytest

from .services import PrivateRedis, postgres_unavailable_reason

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")

needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="fault test with server processes: needs PostgreSQL (DATABASE_URL=postgres://…) so that "
                            "they share the test database; skipped on the SQLite pass")
needs_redis_server = pytest.mark.skipif(PrivateRedis.binary is None, reason="redis-server is not installed")
needs_private_postgres = pytest.mark.skipif(
    not ON_POSTGRES or postgres_unavailable_reason() is not None,
    reason=f"needs PostgreSQL and a private cluster: {postgres_unavailable_reason() or 'SQLite pass'}")


@pytest.fixture
def private_redis():
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.close()


def dump_logs_on_failure(request, *processes) -> None:
    """Shown under a failed test: what the servers and workers printed."""
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for process in processes:
            print(f"\n--- {process.name} output (last lines) ---\n{process.tail()}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
