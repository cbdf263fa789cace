"""Fixtures of the schema fuzz run: the seeded tenant, no rate limiter, no network.

The tenant and its data are created once per module inside an outer transaction that is rolled back at the
end; every generated test (one per API operation) runs in its own savepoint on top of it (pytest-django's
`db`), so a DELETE in one operation's test never takes a row away from the next operation's test.
"""
from __future__ import annotations

import ipaddress
import socket

import httpx
import pytest
import respx
from django.core import signals
from django.db import close_old_connections, transaction
from django.test import override_settings

from tests.billing.fake_stripe import API_BASE, PRICES, SECRET_KEY, WEBHOOK_SECRET, FakeStripe
from tests.fuzz.world import FuzzWorld, build_world

OAUTH_PROVIDERS = ("META", "GOOGLE", "TIKTOK", "SNAPCHAT", "HUBSPOT", "PIPEDRIVE", "SALESFORCE", "ZOHO")


def _is_loopback(host) -> bool:
    if host in (None, "localhost", "testserver"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class NetworkDisabled(OSError):
    pass


@pytest.fixture(scope="module")
def no_network():
    """External HTTP is impossible: httpx answers a connection error (respx), raw sockets to anything but
    loopback (PostgreSQL, Redis) are refused."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"network disabled in the fuzz run ({host})")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise NetworkDisabled(f"network disabled in the fuzz run ({address[0]})")
        return real_connect(self, address)

    socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect
    try:
        with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
            FakeStripe().mount(router)  # Stripe answers (checkout, cancel): billing runs its real paths
            router.route().mock(side_effect=httpx.ConnectError("network disabled in the fuzz run"))
            yield router
    finally:
        socket.getaddrinfo, socket.socket.connect = real_getaddrinfo, real_connect


@pytest.fixture(scope="module")
def fuzz_settings():
    # The fuzzer sends thousands of requests a minute as one tenant: the per-tier token bucket would answer
    # most of them 429 and hide the real answers. The limiter has its own tests (tests/api); 429 stays a
    # documented answer of every operation.
    # Stripe and the OAuth providers are configured (fake credentials) so their views run past "not
    # configured": Stripe is the test suite's fake, every other outbound call fails as unreachable.
    providers = {f"{name}_{part}": f"fuzz-{name.lower()}-{part.lower()}" for name in OAUTH_PROVIDERS
                 for part in ("CLIENT_ID", "CLIENT_SECRET")}
    with override_settings(RATELIMIT_ENABLED=False, WEBHOOK_ALLOW_PRIVATE_TARGETS=False,
                           STRIPE_SECRET_KEY=SECRET_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_BASE=API_BASE,
                           STRIPE_PRICES={key: price_id for key, (price_id, _, _) in PRICES.items()},
                           GOOGLE_ADS_DEVELOPER_TOKEN="fuzz-developer-token", **providers):
        yield


@pytest.fixture(scope="module")
def wsgi_requests_keep_the_test_transaction():
    """Django's test client does the same: a real WSGI request would otherwise close the connection
    (close_old_connections) and with it the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def fuzz_world(django_db_setup, django_db_blocker, fuzz_settings, no_network,
               wsgi_requests_keep_the_test_transaction) -> FuzzWorld:
    with django_db_blocker.unblock():
        with transaction.atomic():
            world = build_world()
            yield world
            transaction.set_rollback(True)


@pytest.fixture
def fuzz(fuzz_world, db) -> FuzzWorld:
    """The world for one generated test, inside that test's savepoint."""
    return fuzz_world
