"""Staff actions at once, for real: threads signed in to the console of a live gunicorn (several worker processes,
DEBUG=0) on the test database (PostgreSQL) raise the same tenant's limit together. Each action locks the tenant
before it reads the "before" of its audit entry, so the entries form one chain — every value the limit held appears
once as a before — and the last after is what the API applies."""
from __future__ import annotations

import threading

import httpx
import pytest

from console.models import StaffAction
from tests.console.factories import STAFF_EMAIL, STAFF_PASSWORD, platform_seed, staff_user
from tests.faults.conftest import needs_postgres
from tests.faults.services import AppServer, service_env, subprocess_database_url
from tests.helpers import client_for

pytestmark = [pytest.mark.postgres, needs_postgres, pytest.mark.django_db(transaction=True)]

STAFF = 6


@pytest.fixture
def app():
    # Plain HTTP on loopback: the console's cookies may travel without TLS here.
    server = AppServer(env=service_env(DATABASE_URL=subprocess_database_url(), RATELIMIT_ENABLED="0",
                                       SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0",
                                       LOGIN_LOCKOUT_IP_ATTEMPTS="1000"), workers=4)
    server.start()
    yield server
    server.close()


def signed_in(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    client.get("/admin/login/")
    response = client.post("/admin/login/?next=/admin/", data={
        "csrfmiddlewaretoken": client.cookies["csrftoken"], "username": STAFF_EMAIL, "password": STAFF_PASSWORD})
    assert response.status_code == 302 and response.headers["location"] == "/admin/", response.text[:500]
    return client


def test_concurrent_limit_raises_leave_one_chain_of_entries(app):
    staff_user()
    world = platform_seed()
    acme = world["acme"]
    url = f"/admin/accounts/tenant/{acme.pk}/staff/limit/"
    clients = [signed_in(app.url) for _ in range(STAFF)]
    barrier = threading.Barrier(STAFF)
    results: list = [None] * STAFF

    def raise_limit(i: int) -> None:
        barrier.wait()
        try:
            results[i] = clients[i].post(url, data={"csrfmiddlewaretoken": clients[i].cookies["csrftoken"],
                                                    "limit": "max_users", "value": str(10 + i)})
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[i] = exc

    threads = [threading.Thread(target=raise_limit, args=(i,)) for i in range(STAFF)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(isinstance(r, httpx.Response) and r.status_code == 302 for r in results), results
    for client in clients:
        client.close()

    entries = list(StaffAction.objects.filter(tenant=acme, action="limits_raise"))
    assert len(entries) == STAFF
    chain = {entry.before["max_users"]: entry.after["max_users"] for entry in entries}
    assert len(chain) == STAFF  # no two actions read the same "before"
    value, seen = 3, []  # the starter tier's max_users
    while value in chain:
        seen.append(value)
        value = chain[value]
    assert len(seen) == STAFF and sorted(chain.values()) == list(range(10, 10 + STAFF))
    acme.refresh_from_db()
    assert acme.limit_overrides == {"max_users": value}
    assert client_for(world["owner"]).get("/api/v1/features").json()["limits"]["max_users"] == value
    assert {entry.staff_email for entry in entries} == {STAFF_EMAIL}
