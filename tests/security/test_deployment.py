"""Behind a load balancer and in production: the client address comes from the trusted proxy chain only, limits and
lock-outs hold per real client, HTTPS settings are on with DEBUG=0 (`check --deploy` clean), and every bad
environment value stops the boot naming its variable."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from stratum.api.clientaddr import client_address, parse_trusted_proxies
from tests.accounts.factories import TEST_PASSWORD, UserFactory

BASE_DIR = Path(__file__).resolve().parents[2]
PROXY = "10.0.0.5"
LOGIN = "/api/v1/auth/login"


def address(settings, trusted: str, remote: str, forwarded: str | None = None) -> str:
    settings.TRUSTED_PROXY_NETWORKS = parse_trusted_proxies(trusted)
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **extra))


@pytest.mark.attack("proxy")
def test_the_client_address_is_read_from_the_trusted_chain_only(hostile, settings):
    cases = [
        # (trusted proxies, REMOTE_ADDR, X-Forwarded-For, client)
        ("", "203.0.113.7", "198.51.100.1", "203.0.113.7"),  # no proxies trusted: headers are never read
        ("10.0.0.0/8", "203.0.113.7", "198.51.100.1", "203.0.113.7"),  # the peer is no trusted proxy
        ("10.0.0.0/8", PROXY, "198.51.100.1", "198.51.100.1"),
        ("10.0.0.0/8", PROXY, "1.2.3.4, 198.51.100.1", "198.51.100.1"),  # the client's own forged entry is left
        ("10.0.0.0/8", PROXY, "1.2.3.4, 198.51.100.1, 10.0.0.9", "198.51.100.1"),  # two proxy hops
        ("10.0.0.0/8,2001:db8::/32", "2001:db8::2", "2001:db8:1::1, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.0/8", PROXY, "[2001:db8::9]:443", "2001:db8::9"),
        ("10.0.0.0/8", PROXY, "198.51.100.1:5678", "198.51.100.1"),
        ("10.0.0.0/8", PROXY, "", PROXY),  # a trusted proxy that forwards nothing is the client
        ("10.0.0.0/8", PROXY, "not-an-ip", PROXY),
        ("10.0.0.0/8", PROXY, "1.2.3.4, garbage, 10.0.0.7", "10.0.0.7"),  # left of garbage is the client's word
        ("10.0.0.0/8", "::ffff:10.0.0.5", "198.51.100.1", "198.51.100.1"),  # IPv4-mapped peer
        ("10.0.0.0/8", "", "198.51.100.1", "unknown"),
    ]
    for trusted, remote, forwarded, expected in cases:
        got = address(settings, trusted, remote, forwarded)
        hostile.expect("proxy", f"TRUSTED_PROXIES={trusted!r} REMOTE_ADDR={remote!r} XFF={forwarded!r}",
                       got == expected, f"{got} instead of {expected}")


def login_via_proxy(client_ip: str, email: str, password: str):
    return APIClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{client_ip}, {PROXY}").post(
        LOGIN, {"email": email, "password": password}, format="json")


@pytest.mark.attack("proxy")
def test_behind_a_load_balancer_one_client_cannot_lock_everybody_out(hostile, db, settings):
    settings.TRUSTED_PROXY_NETWORKS = parse_trusted_proxies("10.0.0.0/8")
    settings.RATELIMIT_ENABLED = False
    settings.LOGIN_LOCKOUT_ATTEMPTS, settings.LOGIN_LOCKOUT_IP_ATTEMPTS = 5, 30
    victim = UserFactory(email="victim@example.com")
    answers = [login_via_proxy("203.0.113.66", f"nobody{n}@example.com", "guess-1234").status_code
               for n in range(31)]
    hostile.expect("proxy", "30 failures from one client behind the proxy: 401 ×30, then that client is locked",
                   answers == [401] * 30 + [429], answers)
    response = login_via_proxy("198.51.100.20", victim.email, TEST_PASSWORD)
    hostile.expect("proxy", "another client behind the same proxy still logs in", response.status_code == 200,
                   response.status_code)
    response = APIClient(REMOTE_ADDR="203.0.113.66", HTTP_X_FORWARDED_FOR="198.51.100.21").post(
        LOGIN, {"email": victim.email, "password": TEST_PASSWORD}, format="json")
    hostile.expect("proxy", "a direct client cannot borrow a fresh address with X-Forwarded-For",
                   response.status_code == 429, response.status_code)


@pytest.mark.attack("proxy")
def test_anonymous_buckets_are_per_real_client(hostile, db, settings):
    settings.TRUSTED_PROXY_NETWORKS = parse_trusted_proxies("10.0.0.0/8")
    settings.RATELIMIT_ENABLED = True
    statuses = [APIClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").post(
        "/api/v1/auth/forgot-password", {"email": "someone@example.com"}, format="json").status_code
        for n in range(1, 26)]
    hostile.expect("proxy", "25 forgot-password calls from 25 clients behind one proxy are all answered",
                   statuses == [200] * 25, statuses)
    one_client = [APIClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.200").post(
        "/api/v1/auth/forgot-password", {"email": "someone@example.com"}, format="json").status_code
        for _ in range(25)]
    hostile.expect("proxy", "one client behind the proxy still runs into its own bucket (burst 20)",
                   one_client[:20] == [200] * 20 and one_client[-1] == 429, one_client)


def boot(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("STRATUM_TESTING", "PYTEST_CURRENT_TEST")}
    environment.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment, capture_output=True,
                          text=True, timeout=120)


PRODUCTION = {
    "DEBUG": "0", "SECRET_KEY": "deploy-check-" + "k7Qp2" * 12, "ALLOWED_HOSTS": "api.example.com",
    "FERNET_KEYS": "x" * 43 + "=", "DATABASE_URL": "sqlite://:memory:",
}


@pytest.mark.attack("deployment")
def test_production_settings_pass_the_deploy_check_and_switch_on_https(hostile):
    result = boot("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    hostile.expect("deployment", "manage.py check --deploy under DEBUG=0 is clean",
                   result.returncode == 0 and "no issues" in result.stdout, result.stdout + result.stderr)
    shown = boot("shell", "-c", "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, "
                 "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT)",
                 **PRODUCTION)
    hostile.expect("deployment", "DEBUG=0 defaults: HSTS a year, secure cookies, X-Forwarded-Proto, redirect",
                   shown.stdout.strip().splitlines()[-1] == "31536000 True True ('HTTP_X_FORWARDED_PROTO', 'https') True",
                   shown.stdout + shown.stderr)
    shown = boot("shell", "-c", "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, "
                 "s.SESSION_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER)",
                 **PRODUCTION, SECURE_HSTS_SECONDS="600", SESSION_COOKIE_SECURE="0",
                 SECURE_PROXY_SSL_HEADER="X-Forwarded-Scheme=https")
    hostile.expect("deployment", "each switch is configurable by the environment",
                   shown.stdout.strip().splitlines()[-1] == "600 False ('HTTP_X_FORWARDED_SCHEME', 'https')", shown.stdout + shown.stderr)


@pytest.mark.attack("deployment")
def test_every_bad_environment_value_names_its_variable(hostile):
    for name, value in (("LOGIN_LOCKOUT_ATTEMPTS", "five"), ("LOGIN_LOCKOUT_SECONDS", "-1"), ("DEBUG", "maybe"),
                        ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"), ("SECURE_HSTS_SECONDS", "1y"),
                        ("SECURE_PROXY_SSL_HEADER", "https"), ("API_MAX_BODY_BYTES", "1MB"),
                        ("INTEGRATIONS_HTTP_TIMEOUT", "inf"), ("RATELIMIT_ENABLED", "enabled"),
                        ("DATABASE_URL", "mongodb://localhost/x"), ("LOG_LEVEL", "loud"), ("STAFF_REQUIRE_2FA", "2")):
        result = boot("check", **{name: value})
        last = (result.stderr.strip().splitlines() or [""])[-1]
        hostile.expect("deployment", f"{name}={value} stops the boot naming {name}",
                       result.returncode != 0 and "ImproperlyConfigured" in last and name in last, last[:300])


@pytest.mark.attack("deployment")
def test_https_requests_get_hsts_and_secure_cookies(hostile, settings, db):
    settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = 31_536_000, True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = APIClient(HTTP_X_FORWARDED_PROTO="https").get("/admin/login/")
    hostile.expect("deployment", "HSTS on an HTTPS answer",
                   response.get("Strict-Transport-Security", "").startswith("max-age=31536000; includeSubDomains"),
                   response.get("Strict-Transport-Security"))
    cookie = response.cookies.get("csrftoken")
    hostile.expect("deployment", "the CSRF cookie is Secure", cookie is not None and bool(cookie["secure"]), cookie)


@pytest.mark.attack("deployment")
def test_the_csrf_deploy_check_sees_the_browser_only_subclass(settings):
    """Django's W003 looks for its class by name (silenced); ours finds the subclass, and still asks for a secure
    cookie — a MIDDLEWARE without any CSRF layer is reported."""
    from stratum.api.middleware import browser_csrf_check

    settings.CSRF_COOKIE_SECURE = True
    assert browser_csrf_check() == []
    settings.CSRF_COOKIE_SECURE = False
    assert [w.id for w in browser_csrf_check()] == ["stratum.W016"]
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "Csrf" not in m]
    assert [w.id for w in browser_csrf_check()] == ["stratum.W003"]
