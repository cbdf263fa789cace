"""Auth flows as a client sees them: register, verify, login, refresh, logout, password reset."""
import re

import pytest
from django.core import mail
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import OneTimeToken, Tenant, User
from tests.accounts.factories import TEST_PASSWORD, TenantFactory, UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

STRONG = "Sup3r-Secret-Passw0rd!"


def token_from_mail(message) -> str:
    return re.search(r"token=([\w\-]+)", message.body).group(1)


def login(client, email, password):
    return client.post("/api/v1/auth/login", {"email": email, "password": password}, format="json")


class TestRegister:
    def test_register_creates_tenant_owner_and_sends_verification(self, anon_client,
                                                                  django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            response = anon_client.post("/api/v1/auth/register", {
                "email": "  NewUser@Example.com ", "password": STRONG, "name": "John Doe", "phone": "+1234567890",
                "company": "Acme Ads",
            }, format="json")
        assert response.status_code == 202, response.content
        assert set(response.json()) == {"detail"}
        user = User.objects.get(email="newuser@example.com")
        assert (user.role, user.is_verified, user.phone) == ("owner", False, "+1234567890")
        assert user.check_password(STRONG)
        tenant = user.tenant
        assert tenant.name == "Acme Ads"
        assert tenant.settings == {"timezone": "UTC", "currency": "USD"}
        assert len(mail.outbox) == 1
        assert "verify-email?token=" in mail.outbox[0].body

    def test_register_then_login_and_me(self, anon_client):
        anon_client.post("/api/v1/auth/register", {"email": "a@b.co", "password": STRONG, "name": "A"}, format="json")
        response = login(anon_client, "a@b.co", STRONG)
        assert response.status_code == 200
        body = response.json()
        # both references' shapes at once: Stratum's keys at the top, Catalyst's envelope beside them
        assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user",
                             "status_code", "message", "data"}
        assert body["token_type"] == "bearer" and body["expires_in"] == 1800
        assert body["user"]["email"] == "a@b.co"
        assert (body["status_code"], body["message"]) == (200, "Login successful")
        assert body["data"] == {"access_token": body["access_token"], "token_type": "bearer", "expires_in": 1800,
                                "user": body["user"]}
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['data']['access_token']}")  # as a Catalyst client reads
        me = client.get("/api/v1/users/me")
        assert me.status_code == 200
        mine = me.json()
        assert set(mine) >= {"id", "email", "name", "role", "tenant_id", "is_active", "is_verified", "created_at"}
        assert mine["created_at"].endswith("Z")
        assert mine["status_code"] == 200 and mine["data"] == {k: v for k, v in mine.items()
                                                              if k not in ("status_code", "message", "data")}

    def test_a_taken_address_answers_alike_and_tells_its_owner(self, anon_client, user,
                                                               django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            taken = anon_client.post("/api/v1/auth/register", {"email": user.email.upper(), "password": STRONG},
                                     format="json")
            new = anon_client.post("/api/v1/auth/register", {"email": "fresh@example.com", "password": STRONG},
                                   format="json")
        assert (taken.status_code, taken.content) == (new.status_code, new.content) == (202, new.content)
        assert Tenant.objects.count() == 2  # the user's and fresh@'s: nothing for the taken address
        user.refresh_from_db()
        assert user.check_password(TEST_PASSWORD)  # the registrant's password was not applied
        to_owner = [m for m in mail.outbox if m.to == [user.email]]
        assert len(to_owner) == 1 and "tried to create a Stratum account" in to_owner[0].body
        assert "reset-password?token=" in to_owner[0].body

    @pytest.mark.parametrize("payload,field", [
        ({"email": "not-an-email", "password": STRONG}, "email"),
        ({"email": "x@y.co", "password": "short"}, "password"),
        ({"email": "x@y.co", "password": "password123"}, "password"),
        ({"email": "x@y.co"}, "password"),
        ({"email": "x@y.co", "password": STRONG, "phone": "call me maybe"}, "phone"),
        ({"email": "x@y.co", "password": STRONG, "role": "owner"}, "role"),
        ({"email": "x@y.co", "password": STRONG, "is_superuser": True}, "is_superuser"),
        ({"email": "x@y.co", "password": STRONG, "tenant": "00000000-0000-0000-0000-000000000000"}, "tenant"),
    ])
    def test_bad_input_is_422_and_writes_nothing(self, anon_client, payload, field):
        response = anon_client.post("/api/v1/auth/register", payload, format="json")
        body = assert_error(response, 422, "VALIDATION_ERROR")
        assert field in body["errors"]
        assert not User.objects.filter(email="x@y.co").exists()
        assert Tenant.objects.count() == 0

    def test_malformed_json_is_400(self, anon_client):
        response = anon_client.post("/api/v1/auth/register", data="{not json", content_type="application/json")
        assert_error(response, 400, "BAD_REQUEST")

    def test_verify_email_single_use(self, anon_client, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            anon_client.post("/api/v1/auth/register", {"email": "v@b.co", "password": STRONG}, format="json")
        token = token_from_mail(mail.outbox[0])
        assert anon_client.get(f"/api/v1/auth/verify-email?token={token}").status_code == 200
        assert User.objects.get(email="v@b.co").is_verified
        assert_error(anon_client.get(f"/api/v1/auth/verify-email?token={token}"), 400, "INVALID_TOKEN")
        assert_error(anon_client.get("/api/v1/auth/verify-email?token=bogus"), 400, "INVALID_TOKEN")
        assert_error(anon_client.get("/api/v1/auth/verify-email"), 400, "INVALID_TOKEN")


class TestLogin:
    def test_wrong_password_and_unknown_user_answer_alike(self, anon_client, user):
        wrong = assert_error(login(anon_client, user.email, "nope-nope-nope"), 401, "UNAUTHORIZED")
        unknown = assert_error(login(anon_client, "ghost@example.com", "nope-nope-nope"), 401, "UNAUTHORIZED")
        assert wrong["detail"] == unknown["detail"]

    def test_inactive_user_cannot_login(self, anon_client, user):
        user.is_active = False
        user.save()
        assert_error(login(anon_client, user.email, TEST_PASSWORD), 401)

    def test_lockout_after_repeated_failures_even_with_right_password(self, anon_client, user, settings):
        for _ in range(settings.LOGIN_LOCKOUT_ATTEMPTS):
            assert login(anon_client, user.email, "wrong-password-x").status_code == 401
        response = login(anon_client, user.email, TEST_PASSWORD)
        assert_error(response, 429, "RATE_LIMITED")
        assert int(response["Retry-After"]) == settings.LOGIN_LOCKOUT_SECONDS

    def test_lockout_does_not_enumerate_accounts(self, anon_client, settings):
        for _ in range(settings.LOGIN_LOCKOUT_ATTEMPTS):
            login(anon_client, "ghost@example.com", "wrong-password-x")
        assert_error(login(anon_client, "ghost@example.com", "x"), 429, "RATE_LIMITED")

    def test_ip_lockout(self, anon_client, settings, user):
        settings.LOGIN_LOCKOUT_IP_ATTEMPTS = 3
        for i in range(3):
            login(anon_client, f"someone{i}@example.com", "wrong-password-x")
        assert_error(login(anon_client, user.email, TEST_PASSWORD), 429, "RATE_LIMITED")

    def test_suspended_tenant_cannot_login_or_use_tokens(self, anon_client, user, api_client):
        Tenant.objects.filter(pk=user.tenant_id).update(status="suspended")
        assert_error(login(anon_client, user.email, TEST_PASSWORD), 403, "TENANT_SUSPENDED")
        assert_error(api_client.get("/api/v1/users/me"), 403, "TENANT_SUSPENDED")

    def test_access_token_carries_tenant_and_lives_30_minutes(self, anon_client, user):
        body = login(anon_client, user.email, TEST_PASSWORD).json()
        token = AccessToken(body["access_token"])
        assert token["user_id"] == str(user.pk)
        assert token["exp"] - token["iat"] == 1800


class TestRefreshAndLogout:
    def test_refresh_rotates_and_blacklists_old(self, anon_client, user):
        tokens = login(anon_client, user.email, TEST_PASSWORD).json()
        response = anon_client.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
        assert response.status_code == 200
        new = response.json()
        assert set(new) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert new["refresh_token"] != tokens["refresh_token"]
        again = anon_client.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
        assert_error(again, 401, "UNAUTHORIZED")

    def test_refresh_with_garbage_or_access_token(self, anon_client, user):
        tokens = login(anon_client, user.email, TEST_PASSWORD).json()
        assert_error(anon_client.post("/api/v1/auth/refresh", {"refresh_token": "garbage"}, format="json"), 401)
        assert_error(anon_client.post("/api/v1/auth/refresh", {"refresh_token": tokens["access_token"]},
                                      format="json"), 401)
        assert_error(anon_client.post("/api/v1/auth/refresh", {}, format="json"), 422)

    def test_logout_blacklists_given_refresh_token(self, anon_client, user):
        tokens = login(anon_client, user.email, TEST_PASSWORD).json()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
        assert client.post("/api/v1/auth/logout", {"refresh_token": tokens["refresh_token"]},
                           format="json").status_code == 200
        assert_error(anon_client.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]},
                                      format="json"), 401)

    def test_logout_requires_auth_and_own_token(self, anon_client, user):
        assert_error(anon_client.post("/api/v1/auth/logout", {}, format="json"), 401, "UNAUTHORIZED")
        other = UserFactory(tenant=user.tenant)
        other_tokens = login(anon_client, other.email, TEST_PASSWORD).json()
        mine = login(anon_client, user.email, TEST_PASSWORD).json()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {mine['access_token']}")
        assert_error(client.post("/api/v1/auth/logout", {"refresh_token": other_tokens["refresh_token"]},
                                 format="json"), 422)


@pytest.fixture
def mail_now(django_capture_on_commit_callbacks):
    """Account mail leaves from a task after commit: run the commit hooks inside the test's transaction."""
    return django_capture_on_commit_callbacks


class TestPasswordFlows:
    def test_forgot_password_always_200_and_no_mail_for_unknown(self, anon_client):
        response = anon_client.post("/api/v1/auth/forgot-password", {"email": "ghost@example.com"}, format="json")
        assert response.status_code == 200
        assert mail.outbox == []

    def test_reset_password_round_trip_single_use_and_revokes_sessions(self, anon_client, user, mail_now):
        old = login(anon_client, user.email, TEST_PASSWORD).json()
        with mail_now(execute=True):
            assert anon_client.post("/api/v1/auth/forgot-password", {"email": user.email},
                                    format="json").status_code == 200
        token = token_from_mail(mail.outbox[-1])
        response = anon_client.post("/api/v1/auth/reset-password", {"token": token, "new_password": STRONG},
                                    format="json")
        assert response.status_code == 200
        assert login(anon_client, user.email, STRONG).status_code == 200
        assert_error(anon_client.post("/api/v1/auth/reset-password", {"token": token, "new_password": STRONG + "x"},
                                      format="json"), 400, "INVALID_TOKEN")
        assert_error(anon_client.post("/api/v1/auth/refresh", {"refresh_token": old["refresh_token"]},
                                      format="json"), 401)

    def test_reset_token_expires_after_an_hour(self, anon_client, user, time_machine, mail_now):
        time_machine.move_to("2026-03-01 10:00:00Z", tick=False)
        with mail_now(execute=True):
            anon_client.post("/api/v1/auth/forgot-password", {"email": user.email}, format="json")
        token = token_from_mail(mail.outbox[-1])
        time_machine.move_to("2026-03-01 11:00:01Z", tick=False)
        assert_error(anon_client.post("/api/v1/auth/reset-password", {"token": token, "new_password": STRONG},
                                      format="json"), 400, "INVALID_TOKEN")

    def test_reset_with_weak_password_keeps_token(self, anon_client, user, mail_now):
        with mail_now(execute=True):
            anon_client.post("/api/v1/auth/forgot-password", {"email": user.email}, format="json")
        token = token_from_mail(mail.outbox[-1])
        response = anon_client.post("/api/v1/auth/reset-password", {"token": token, "new_password": "123"},
                                    format="json")
        assert_error(response, 422)
        assert OneTimeToken.objects.get(user=user, purpose="reset_password").used_at is None

    def test_change_password(self, api_client, user, anon_client):
        assert_error(api_client.post("/api/v1/users/me/change-password",
                                     {"current_password": "wrong", "new_password": STRONG}, format="json"), 422)
        response = api_client.post("/api/v1/users/me/change-password",
                                   {"current_password": TEST_PASSWORD, "new_password": STRONG}, format="json")
        assert response.status_code == 200
        assert login(anon_client, user.email, STRONG).status_code == 200
        assert login(anon_client, user.email, TEST_PASSWORD).status_code == 401


def test_invalid_bearer_token_is_401_in_error_format(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert_error(anon_client.get("/api/v1/users/me"), 401, "UNAUTHORIZED")


def test_unauthenticated_is_401(anon_client):
    response = anon_client.get("/api/v1/users/me")
    assert_error(response, 401, "UNAUTHORIZED")


def test_other_tenant_user_cannot_be_seen(api_client):
    stranger = UserFactory(tenant=TenantFactory())
    assert_error(api_client.get(f"/api/v1/users/{stranger.pk}"), 404, "NOT_FOUND")


class TestLogoutEndsTheSessionAtOnce:
    def test_the_access_token_stops_working_at_logout(self, anon_client, user):
        user.set_password(STRONG)
        user.save(update_fields=["password"])
        first = login(anon_client, user.email, STRONG).json()
        other = login(anon_client, user.email, STRONG).json()  # another device: its own session
        refreshed = anon_client.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]},
                                     format="json").json()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {first['access_token']}")
        assert client.get("/api/v1/users/me").status_code == 200
        assert client.post("/api/v1/auth/logout", {"refresh_token": refreshed["refresh_token"]},
                           format="json").status_code == 200
        # the token that logged out, and the session's refreshed one, are refused at once (not in 30 minutes)
        for access in (first["access_token"], refreshed["access_token"]):
            again = APIClient()
            again.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
            body = assert_error(again.get("/api/v1/users/me"), 401, "UNAUTHORIZED")
            assert "session has ended" in body["detail"]
        assert_error(anon_client.post("/api/v1/auth/refresh", {"refresh_token": refreshed["refresh_token"]},
                                      format="json"), 401)
        elsewhere = APIClient()
        elsewhere.credentials(HTTP_AUTHORIZATION=f"Bearer {other['access_token']}")
        assert elsewhere.get("/api/v1/users/me").status_code == 200  # the other device stays signed in

    def test_logout_with_only_the_access_token_ends_its_session(self, anon_client, user):
        user.set_password(STRONG)
        user.save(update_fields=["password"])
        tokens = login(anon_client, user.email, STRONG).json()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
        assert client.post("/api/v1/auth/logout", {}, format="json").status_code == 200
        assert_error(client.get("/api/v1/users/me"), 401)
        assert_error(anon_client.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]},
                                      format="json"), 401)

    def test_a_password_change_ends_every_access_token(self, anon_client, user):
        user.set_password(STRONG)
        user.save(update_fields=["password"])
        tokens = [login(anon_client, user.email, STRONG).json()["access_token"] for _ in range(2)]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[0]}")
        changed = client.post("/api/v1/users/me/change-password",
                              {"current_password": STRONG, "new_password": STRONG + "-2"}, format="json")
        assert changed.status_code == 200, changed.content
        for access in tokens:
            again = APIClient()
            again.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
            assert_error(again.get("/api/v1/users/me"), 401)
