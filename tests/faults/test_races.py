"""Races, for real: threads firing at once against a live gunicorn (several worker processes, DEBUG=0) on the test
database (PostgreSQL) and Redis. Each test releases its requests together through a barrier and then counts what
the server did — password checks, sessions, rows — not what one process believes."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from .conftest import dump_logs_on_failure, needs_postgres
from .services import AppServer, service_env, subprocess_database_url

pytestmark = [pytest.mark.postgres, needs_postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 4


@pytest.fixture(scope="module")
def server_env():
    return {"LOGIN_LOCKOUT_ATTEMPTS": "5", "LOGIN_LOCKOUT_IP_ATTEMPTS": "1000", "LOGIN_LOCKOUT_SECONDS": "120",
            "RATELIMIT_ENABLED": "0", "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}


@pytest.fixture
def app(request, server_env):
    server = AppServer(env=service_env(DATABASE_URL=subprocess_database_url(), **server_env), workers=WORKERS)
    server.start()
    yield server
    dump_logs_on_failure(request, server)
    server.close()


def at_once(n: int, call: Callable[[int, httpx.Client], httpx.Response], base_url: str) -> list[httpx.Response]:
    """Runs `call(i, client)` in n threads released together; returns the responses in order of i."""
    barrier = threading.Barrier(n)
    results: list[httpx.Response | BaseException | None] = [None] * n

    def run(i: int) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            client.get("/health")  # connect before the barrier, so the requests leave together
            barrier.wait()
            try:
                results[i] = call(i, client)
            except BaseException as exc:  # noqa: BLE001 - reported below
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    errors = [r for r in results if not isinstance(r, httpx.Response)]
    assert not errors, errors
    return results  # type: ignore[return-value]


def statuses(responses: list[httpx.Response]) -> Counter:
    return Counter(r.status_code for r in responses)


def test_a_parallel_login_burst_gets_exactly_the_configured_password_checks(app):
    from tests.accounts.factories import TEST_PASSWORD, UserFactory

    UserFactory(email="burst@race.test")
    responses = at_once(16, lambda i, c: c.post("/api/v1/auth/login",
                                               json={"email": "burst@race.test", "password": f"wrong-{i}"}),
                        app.url)
    assert statuses(responses) == Counter({401: 5, 429: 11}), [r.text[:120] for r in responses]
    right = httpx.post(f"{app.url}/api/v1/auth/login", json={"email": "BURST@race.test", "password": TEST_PASSWORD})
    assert right.status_code == 429 and right.json()["code"] == "RATE_LIMITED"
