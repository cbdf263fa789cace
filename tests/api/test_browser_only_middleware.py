"""Session, CSRF, the session login (2FA) and messages run for browser pages, not on the token-authenticated API
(stratum.api.middleware.BrowserOnly): an API request reads and writes no session and sets no cookie, while the
admin keeps its session, CSRF protection and messages."""
import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from tests.helpers import assert_error, client_for

pytestmark = pytest.mark.django_db


def _staff(db_user_model):
    return db_user_model.objects.create_superuser(email="root@stratum.local", password="x-Very-Long-Pass-1")


def test_an_api_request_touches_no_session_and_sets_no_cookie(user):
    response = client_for(user).get("/api/v1/users/me")
    assert response.status_code == 200
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "_messages")
    assert "CSRF_COOKIE" not in request.META
    assert response.cookies == {} and "Cookie" not in response.get("Vary", "")
    assert response.wsgi_request.user == user  # DRF's authentication still sets the request's user (for the logs)


def test_a_browser_session_is_no_api_credential_and_is_left_alone(django_user_model):
    browser = Client()
    browser.force_login(_staff(django_user_model))
    sessions = Session.objects.count()
    response = browser.get("/api/v1/users/me")
    assert_error(response, 401, "UNAUTHORIZED")
    assert not hasattr(response.wsgi_request, "session") and response.cookies == {}
    assert Session.objects.count() == sessions
    assert browser.get("/admin/").status_code == 200  # the same session still logs the staff into the admin


def test_health_skips_the_browser_layers_too():
    response = Client().get("/health/live")
    assert response.status_code == 200 and not hasattr(response.wsgi_request, "session")


def test_the_admin_keeps_its_session_csrf_and_messages(django_user_model):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/admin/login/")
    assert page.status_code == 200 and "csrftoken" in page.cookies
    refused = browser.post("/admin/login/", {"username": "root@stratum.local", "password": "x"})
    assert refused.status_code == 403  # no CSRF token: the middleware still guards browser forms
    staff = _staff(django_user_model)
    token = page.cookies["csrftoken"].value
    logged_in = browser.post("/admin/login/?next=/admin/", {"username": staff.email, "password": "x-Very-Long-Pass-1",
                                                            "csrfmiddlewaretoken": token})
    assert logged_in.status_code == 302 and "sessionid" in logged_in.cookies
    admin = browser.get("/admin/")
    assert admin.status_code == 200 and admin.wsgi_request.user == staff
    assert hasattr(admin.wsgi_request, "_messages")
