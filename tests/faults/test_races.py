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
SERVER_SECRET_KEY = "fault-suite-races-" + "5e" * 24  # known here, so the test can sign what the server checks


@pytest.fixture(scope="module")
def server_env():
    return {"LOGIN_LOCKOUT_ATTEMPTS": "5", "LOGIN_LOCKOUT_IP_ATTEMPTS": "1000", "LOGIN_LOCKOUT_SECONDS": "120",
            "RATELIMIT_ENABLED": "0", "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "SECRET_KEY": SERVER_SECRET_KEY}


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


def login_pair(app, email: str) -> dict:
    from tests.accounts.factories import TEST_PASSWORD

    response = httpx.post(f"{app.url}/api/v1/auth/login", json={"email": email, "password": TEST_PASSWORD}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def key_for(user) -> str:
    from accounts.services import api_key_create
    from stratum.api.permissions import SCOPES

    return api_key_create(tenant=user.tenant, created_by=user, name="race", permissions=list(SCOPES),
                          expires_at=None)[1]


def test_a_refresh_token_used_in_parallel_renews_once(app):
    from tests.accounts.factories import UserFactory

    UserFactory(email="refresh@race.test")
    pair = login_pair(app, "refresh@race.test")
    responses = at_once(8, lambda i, c: c.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
                        app.url)
    assert statuses(responses) == Counter({200: 1, 401: 7}), [r.text[:100] for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()
    again = httpx.post(f"{app.url}/api/v1/auth/refresh", json={"refresh_token": winner["refresh_token"]})
    assert again.status_code == 200  # the one renewed chain goes on


def test_logout_racing_refresh_leaves_no_live_session(app):
    from accounts.models import LoginSession
    from tests.accounts.factories import UserFactory

    user = UserFactory(email="logout@race.test")
    for attempt in range(5):
        pair = login_pair(app, user.email)

        def call(i: int, client: httpx.Client, pair: dict = pair) -> httpx.Response:
            if i == 0:
                return client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]},
                                   headers={"Authorization": f"Bearer {pair['access_token']}"})
            return client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})

        responses = at_once(2, call, app.url)
        assert responses[0].status_code == 200, responses[0].text
        assert responses[1].status_code in (200, 401), responses[1].text
        if responses[1].status_code == 200:  # the refresh came first: what it issued must be dead now
            renewed = responses[1].json()["refresh_token"]
            after = httpx.post(f"{app.url}/api/v1/auth/refresh", json={"refresh_token": renewed})
            assert after.status_code == 401, (attempt, after.text)
    assert not LoginSession.objects.filter(user=user, revoked_at__isnull=True).exists()


def test_parallel_sign_ups_with_one_name_all_get_a_workspace(app):
    from accounts.models import Tenant, User

    responses = at_once(9, lambda i, c: c.post("/api/v1/auth/register", json={
        "email": f"founder{i}@race.test", "password": "Sup3r-Secret-Passw0rd!", "company": "Acme Growth"}), app.url)
    assert statuses(responses) == Counter({202: 9}), [r.text[:120] for r in responses]
    slugs = sorted(Tenant.objects.filter(name="Acme Growth").values_list("slug", flat=True))
    assert len(slugs) == len(set(slugs)) == 9 and "acme-growth" in slugs
    assert User.objects.filter(email__startswith="founder", email__endswith="@race.test").count() == 9


def test_one_address_invited_by_several_tenants_at_once(app):
    from accounts.models import User
    from tests.accounts.factories import TenantFactory, UserFactory

    keys = [key_for(UserFactory(email=f"admin{i}@race.test", tenant=TenantFactory(plan="enterprise")))
            for i in range(6)]
    responses = at_once(6, lambda i, c: c.post("/api/v1/users", json={"email": "popular@race.test", "role": "viewer"},
                                               headers={"Authorization": f"Bearer {keys[i]}"}), app.url)
    assert statuses(responses) == Counter({201: 6}), [r.text[:160] for r in responses]  # no 500, nothing revealed
    assert User.objects.filter(email="popular@race.test").count() == 1
    same = at_once(4, lambda i, c: c.post("/api/v1/users", json={"email": "twice@race.test", "role": "viewer"},
                                          headers={"Authorization": f"Bearer {keys[0]}"}), app.url)
    assert statuses(same) == Counter({201: 1, 409: 3}), [r.text[:160] for r in same]
    assert {r.json()["code"] for r in same if r.status_code == 409} == {"ALREADY_MEMBER"}


def test_parallel_reactivations_respect_max_users(app):
    from accounts.models import User
    from tests.accounts.factories import TenantFactory, UserFactory

    tenant = TenantFactory(plan="starter")  # max_users 3
    owner = UserFactory(email="owner@starter.race", tenant=tenant, role="owner")
    members = [UserFactory(email=f"m{i}@starter.race", tenant=tenant, role="viewer") for i in range(4)]
    User.objects.filter(pk__in=[m.pk for m in members]).update(is_active=False)
    key = key_for(owner)
    responses = at_once(4, lambda i, c: c.patch(f"/api/v1/users/{members[i].pk}", json={"is_active": True},
                                                headers={"Authorization": f"Bearer {key}"}), app.url)
    assert statuses(responses) == Counter({200: 2, 403: 2}), [r.text[:160] for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 403} == {"PLAN_LIMIT_REACHED"}
    assert User.objects.filter(tenant=tenant, is_active=True).count() == 3


def test_parallel_segment_creations_respect_max_segments(app):
    from cdp.models import Segment
    from stratum.api.tenancy import tenant_scope
    from tests.accounts.factories import TenantFactory, UserFactory

    tenant = TenantFactory(plan="starter")  # max_segments 10
    owner = UserFactory(email="owner@segments.race", tenant=tenant, role="owner")
    with tenant_scope(tenant):
        for n in range(8):
            Segment.objects.create(tenant=tenant, name=f"Existing {n}", conditions={"rules": []})
    key = key_for(owner)
    responses = at_once(6, lambda i, c: c.post("/api/v1/cdp/segments", json={
        "name": f"Race {i}", "conditions": {"rules": [{"field": "email", "operator": "exists"}]}},
        headers={"Authorization": f"Bearer {key}"}), app.url)
    assert statuses(responses) == Counter({201: 2, 403: 4}), [r.text[:160] for r in responses]
    assert Segment.objects.for_tenant(tenant).count() == 10


def test_parallel_ad_accounts_respect_max_ad_accounts_from_zero(app):
    """The service every connector uses, from threads with their own database connections (a tenant with no
    account yet: locking its accounts' rows locked nothing)."""
    from django.db import connection

    from campaigns.models import AdAccount
    from campaigns.services import ad_account_upsert
    from stratum.api.entitlements import PlanLimitReached
    from stratum.api.tenancy import tenant_scope
    from tests.accounts.factories import TenantFactory

    tenant = TenantFactory(plan="starter")  # max_ad_accounts 3
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def add(i: int) -> None:
        try:
            with tenant_scope(tenant):
                barrier.wait()
                ad_account_upsert(tenant=tenant, platform="demo", external_id=f"acct-{i}", name=f"Account {i}")
            outcomes.append("created")
        except PlanLimitReached:
            outcomes.append("limit")
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Counter(outcomes) == Counter({"created": 3, "limit": 3})
    with tenant_scope(tenant):
        assert AdAccount.objects.for_tenant(tenant).count() == 3


def test_parallel_one_click_unsubscribes_lose_no_choice(app):
    """Every category's one-click unsubscribe of one user, each twice, at once across the workers: each read-modify-
    write of the preferences runs under the user's row lock, so all six choices stick and nothing else moves."""
    from django.test import override_settings

    from accounts.models import NOTIFICATION_CATEGORIES, User
    from accounts.notifications import links, notification_preferences_get
    from tests.accounts.factories import TenantFactory, UserFactory

    user = UserFactory(email="reader@race.test", tenant=TenantFactory(plan="enterprise"))
    User.objects.filter(pk=user.pk).update(preferences={"theme": "dark", "notifications": {"email": {"all": True}}})
    with override_settings(SECRET_KEY=SERVER_SECRET_KEY):
        urls = [f"/unsubscribe?token={links.unsubscribe_token(user=user, category=category)}"
                for category in NOTIFICATION_CATEGORIES] * 2
    responses = at_once(len(urls), lambda i, c: c.post(urls[i], content=b"List-Unsubscribe=One-Click", headers={
        "Content-Type": "application/x-www-form-urlencoded"}), app.url)
    assert statuses(responses) == Counter({200: len(urls)}), [r.text[:160] for r in responses]
    user.refresh_from_db()
    preferences = notification_preferences_get(user=user)
    assert preferences["email"] == dict.fromkeys(NOTIFICATION_CATEGORIES, False)
    assert preferences["in_app"] == dict.fromkeys(NOTIFICATION_CATEGORIES, True)
    assert user.preferences["theme"] == "dark"
