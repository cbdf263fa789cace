"""One lock-out for the API and the staff console, keyed on the canonical e-mail (NFKC + casefold, the form the
lookup uses) and the real client address; TOTP two-factor for staff, mandatory for superusers with
STAFF_REQUIRE_2FA=1."""
from __future__ import annotations

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factories import TEST_PASSWORD, UserFactory

LOGIN = "/api/v1/auth/login"
STAFF_EMAIL, STAFF_PASSWORD = "ops@stratum.test", "Console-Passw0rd-42"


def login(email: str, password: str, ip: str = "203.0.113.7"):
    return APIClient(REMOTE_ADDR=ip).post(LOGIN, {"email": email, "password": password}, format="json")


def console_login(email: str, password: str, ip: str = "203.0.113.8", **extra) -> tuple[Client, object]:
    client = Client(REMOTE_ADDR=ip)
    response = client.post("/admin/login/?next=/admin/", {"username": email, "password": password, **extra})
    return client, response


def console_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


@pytest.fixture
def lockout(db, settings):
    settings.RATELIMIT_ENABLED = False
    settings.LOGIN_LOCKOUT_ATTEMPTS, settings.LOGIN_LOCKOUT_IP_ATTEMPTS = 5, 30
    settings.LOGIN_LOCKOUT_SECONDS = 60
    return settings


@pytest.mark.attack("brute_force")
def test_unicode_look_alikes_share_the_account_and_its_lock(hostile, lockout):
    UserFactory(email="a-analyst@example.com")
    look_alikes = ("a-analyſt@example.com", "A-ANALYST@EXAMPLE.COM", "ａ-analyst@example.com", " a-analyst@example.com ",
                   "a-analyﬆ@example.com")
    for variant in look_alikes:
        response = login(variant, TEST_PASSWORD, "198.51.100.1")
        hostile.expect("brute_force", f"{variant!r} is the same account (the right password logs in)",
                       response.status_code == 200, response.status_code)
    failures = [login(look_alikes[n % len(look_alikes)], f"wrong-{n}", "203.0.113.1").status_code for n in range(6)]
    hostile.expect("brute_force", "five failures across spellings lock the account", failures == [401] * 5 + [429],
                   failures)
    for variant in look_alikes + ("a-analyſt@example.com".upper(),):
        response = login(variant, TEST_PASSWORD, "198.51.100.2")
        hostile.expect("brute_force", f"while locked, {variant!r} with the right password is refused",
                       response.status_code == 429 and "access_token" not in response.json(), response.status_code)
    response = APIClient().post("/api/v1/auth/register", {"email": "a-analyſt@example.com", "password": "N3w-Passw0rd!x",
                                                          "name": "Squatter"}, format="json")
    hostile.expect("brute_force", "a look-alike cannot register a second account",
                   User.objects.filter(email_key="a-analyst@example.com").count() == 1, response.status_code)


@pytest.mark.attack("brute_force")
def test_the_console_shares_the_api_lock_out(hostile, lockout):
    User.objects.create_superuser(email=STAFF_EMAIL, password=STAFF_PASSWORD)
    statuses = [console_login(STAFF_EMAIL, f"wrong-{n}")[1].status_code for n in range(5)]
    hostile.expect("brute_force", "five wrong console passwords are answered with the form again",
                   statuses == [200] * 5, statuses)
    client, response = console_login(STAFF_EMAIL, STAFF_PASSWORD, "198.51.100.30")
    hostile.expect("brute_force", "the right console password is refused once locked (429), no session",
                   response.status_code == 429 and not console_in(client), response.status_code)
    response = login(STAFF_EMAIL.upper(), STAFF_PASSWORD, "198.51.100.31")
    hostile.expect("brute_force", "the API refuses the account the console locked", response.status_code == 429,
                   response.status_code)
    # And the other way round: API failures lock the console.
    UserFactory(email="staffer@example.com", is_staff=True, is_superuser=True)
    for n in range(5):
        login("staffer@example.com", f"wrong-{n}", "203.0.113.40")
    client, response = console_login("Staffer@Example.com", TEST_PASSWORD, "198.51.100.41")
    hostile.expect("brute_force", "the console refuses the account the API locked",
                   response.status_code == 429 and not console_in(client), response.status_code)
    hostile.expect("brute_force", "the console answers a lock-out its own way (plain text, Retry-After)",
                   response["Content-Type"].startswith("text/plain") and response.get("Retry-After") == "60",
                   (response.get("Content-Type"), response.get("Retry-After")))


@pytest.mark.attack("brute_force")
def test_staff_two_factor_with_totp(hostile, lockout):
    staff = User.objects.create_superuser(email=STAFF_EMAIL, password=STAFF_PASSWORD)
    client, _ = console_login(STAFF_EMAIL, STAFF_PASSWORD)
    hostile.expect("brute_force", "without a device and without STAFF_REQUIRE_2FA a password is enough",
                   console_in(client))
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client, response = console_login(STAFF_EMAIL, STAFF_PASSWORD)
    hostile.expect("brute_force", "with a device, the password alone does not open the console",
                   not console_in(client), response.status_code)
    client, _ = console_login(STAFF_EMAIL, STAFF_PASSWORD, otp_token="000000" if totp(device.bin_key) != 0 else "1")
    hostile.expect("brute_force", "a wrong code does not open it", not console_in(client))
    device.refresh_from_db()
    device.throttling_failure_count, device.throttling_failure_timestamp = 0, None
    device.save()
    client, _ = console_login(STAFF_EMAIL, STAFF_PASSWORD, otp_token=f"{totp(device.bin_key):06d}")
    hostile.expect("brute_force", "password and the current code open it", console_in(client))

    lockout.STAFF_REQUIRE_2FA = True
    TOTPDevice.objects.filter(user=staff).delete()
    client, response = console_login(STAFF_EMAIL, STAFF_PASSWORD, "198.51.100.50")
    hostile.expect("brute_force", "STAFF_REQUIRE_2FA=1: a superuser without a device cannot sign in",
                   not console_in(client) and b"Two-factor authentication is required" in response.content,
                   response.status_code)
    session_only = Client()
    session_only.force_login(staff)
    hostile.expect("brute_force", "STAFF_REQUIRE_2FA=1: a session without a verified device is not enough",
                   not console_in(session_only))
    plain_staff = UserFactory(email="support@example.com", is_staff=True, is_superuser=False)
    client, _ = console_login(plain_staff.email, TEST_PASSWORD, "198.51.100.51")
    hostile.expect("brute_force", "STAFF_REQUIRE_2FA concerns superusers: other staff may still use a password",
                   client.get("/admin/").status_code in (200, 403))


@pytest.mark.attack("brute_force")
def test_staff_totp_command_enrols_a_device(hostile, lockout, capsys):
    from django.core.management import call_command

    User.objects.create_superuser(email=STAFF_EMAIL, password=STAFF_PASSWORD)
    call_command("staff_totp", STAFF_EMAIL.upper())
    out = capsys.readouterr().out
    device = TOTPDevice.objects.get(user__email=STAFF_EMAIL)
    hostile.expect("brute_force", "the command prints an otpauth:// URL and the device is confirmed",
                   "otpauth://totp/" in out and device.confirmed, out[-200:])
    lockout.STAFF_REQUIRE_2FA = True
    client, _ = console_login(STAFF_EMAIL, STAFF_PASSWORD, otp_token=f"{totp(device.bin_key):06d}")
    hostile.expect("brute_force", "STAFF_REQUIRE_2FA=1: the enrolled superuser signs in with the code",
                   console_in(client))
