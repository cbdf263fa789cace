"""Login brute force: an account (and an IP) is locked out with 429 and Retry-After, the right password does not
open a locked account, and nothing tells an attacker whether an account exists — the same answers, in the same
order, in similar time. Guessing API keys runs into the anonymous rate limit."""
from __future__ import annotations

import statistics
import time

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factories import TEST_PASSWORD, UserFactory

LOGIN = "/api/v1/auth/login"


class TimingArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2 with a cost (≈ 10–30 ms) that dominates a login, so a skipped hash would show in the timing."""

    time_cost = 2
    memory_cost = 16 * 1024
    parallelism = 1


def login(email: str, password: str, ip: str = "203.0.113.7"):
    return APIClient(REMOTE_ADDR=ip).post(LOGIN, {"email": email, "password": password}, format="json")


def shape(response) -> tuple:
    """What an attacker can compare: status, body and the headers that matter."""
    return response.status_code, response.content, response.get("Retry-After")


@pytest.fixture
def victim(db, settings):
    settings.RATELIMIT_ENABLED = False
    settings.LOGIN_LOCKOUT_ATTEMPTS, settings.LOGIN_LOCKOUT_IP_ATTEMPTS = 5, 30
    settings.LOGIN_LOCKOUT_SECONDS = 3  # short, so the test can see a lock expire
    return UserFactory(email="victim@example.com", role="owner")


@pytest.mark.attack("brute_force")
def test_an_account_is_locked_after_five_failures_and_the_answers_enumerate_nothing(hostile, victim, settings):
    inactive = UserFactory(email="gone@example.com", tenant=victim.tenant, role="viewer")
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    existing = [shape(login("victim@example.com", f"guess-{n}", "203.0.113.1")) for n in range(8)]
    locked_at = time.monotonic()
    hostile.expect("brute_force", "five failures answer 401, then 429 with Retry-After",
                   [s for s, _, _ in existing] == [401] * 5 + [429] * 3 and existing[5][2] == "3", existing)
    for variant in ("victim@example.com", "VICTIM@example.com", " victim@example.com ", "Victim@Example.COM"):
        response = login(variant, TEST_PASSWORD, "198.51.100.9")  # right password, another IP
        hostile.expect("brute_force", f"the right password for the locked {variant!r}",
                       response.status_code == 429 and "access_token" not in response.json(), response.status_code)
    for label, email, ip in (("unknown account", "nobody@example.com", "203.0.113.2"),
                             ("deactivated account", "gone@example.com", "203.0.113.3")):
        run = [shape(login(email, f"guess-{n}", ip)) for n in range(8)]
        hostile.expect("brute_force", f"{label}: the very same answers as an existing one", run == existing, run[:2])
    time.sleep(max(0.0, 3.1 - (time.monotonic() - locked_at)))  # the lock expires (Redis TTLs run on real time)
    response = login("victim@example.com", TEST_PASSWORD, "198.51.100.9")
    assert response.status_code == 200 and response.json()["access_token"], response.content
    # A success clears the account's failures: four more do not lock it again at once.
    for n in range(4):
        assert login("victim@example.com", f"again-{n}", "198.51.100.9").status_code == 401
    assert login("victim@example.com", TEST_PASSWORD, "198.51.100.9").status_code == 200


@pytest.mark.attack("brute_force")
def test_one_ip_spraying_many_accounts_is_locked_out(hostile, victim):
    ip = "203.0.113.50"
    answers = [login(f"user{n}@example.com", "Winter2024!", ip).status_code for n in range(30)]
    hostile.expect("brute_force", "30 failures over 30 accounts from one IP answer 401", answers == [401] * 30, answers)
    response = login("victim@example.com", TEST_PASSWORD, ip)
    hostile.expect("brute_force", "the 31st attempt from that IP, even right, is 429",
                   response.status_code == 429 and "access_token" not in response.json(), response.status_code)
    response = login("victim@example.com", TEST_PASSWORD, "198.51.100.20")
    assert response.status_code == 200  # the account itself was never the target of five failures
    for header in ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED"):
        client = APIClient(REMOTE_ADDR=ip, **{header: "198.51.100.77"})
        response = client.post(LOGIN, {"email": "victim@example.com", "password": TEST_PASSWORD}, format="json")
        hostile.expect("brute_force", f"a spoofed {header[5:]} does not lift the IP lock", response.status_code == 429,
                       response.status_code)


@pytest.mark.attack("brute_force")
def test_failed_logins_take_as_long_for_unknown_accounts(hostile, victim, settings):
    """With a hasher whose cost dominates, an unknown e-mail must cost a hash too (no timing oracle)."""
    settings.PASSWORD_HASHERS = [f"{__name__}.TimingArgon2PasswordHasher"]
    settings.LOGIN_LOCKOUT_ATTEMPTS, settings.LOGIN_LOCKOUT_IP_ATTEMPTS = 1000, 1000
    victim.set_password(TEST_PASSWORD)
    victim.save(update_fields=["password"])
    inactive = UserFactory(email="gone@example.com", tenant=victim.tenant, role="viewer")
    inactive.set_password(TEST_PASSWORD)
    inactive.is_active = False
    inactive.save(update_fields=["password", "is_active"])
    timings: dict[str, list[float]] = {"existing": [], "unknown": [], "deactivated": []}
    login("warm-up@example.com", "x")
    for n in range(7):
        for label, email in (("existing", "victim@example.com"), ("unknown", f"nobody{n}@example.com"),
                             ("deactivated", "gone@example.com")):
            started = time.perf_counter()
            response = login(email, f"wrong-{n}")
            timings[label].append(time.perf_counter() - started)
            assert response.status_code == 401
    medians = {label: statistics.median(values) for label, values in timings.items()}
    for label in ("unknown", "deactivated"):
        ratio = medians[label] / medians["existing"]
        hostile.expect("brute_force", f"a failed login for a {label} account takes as long ({ratio:.2f}×)",
                       0.5 <= ratio <= 2.0, {k: f"{v * 1000:.1f} ms" for k, v in medians.items()})


@pytest.mark.attack("brute_force")
def test_password_reset_and_key_guessing_reveal_nothing(hostile, victim, settings, mailoutbox,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the mail leaves from a task after commit
        first = APIClient().post("/api/v1/auth/forgot-password", {"email": "victim@example.com"}, format="json")
        second = APIClient().post("/api/v1/auth/forgot-password", {"email": "nobody@example.com"}, format="json")
    hostile.expect("brute_force", "forgot-password answers the same for an unknown account",
                   shape(first) == shape(second) and first.status_code == 200, (shape(first), shape(second)))
    assert len(mailoutbox) == 1
    for token in ("a" * 43, "' OR '1'='1", "", "x" * 500):
        response = APIClient().post("/api/v1/auth/reset-password", {"token": token, "new_password": "N3w-Passw0rd!x"},
                                    format="json")
        hostile.expect("brute_force", f"guessed reset token {token[:10]!r}", response.status_code in (400, 422),
                       response.status_code)
    settings.RATELIMIT_ENABLED = True
    client = APIClient(REMOTE_ADDR="203.0.113.99")
    statuses = [client.get("/api/v1/campaigns", HTTP_AUTHORIZATION=f"Bearer sk_live_{n:043d}").status_code
                for n in range(40)]
    hostile.expect("brute_force", "guessing API keys from one IP runs into 429",
                   set(statuses[:5]) == {401} and statuses[-1] == 429, statuses)
