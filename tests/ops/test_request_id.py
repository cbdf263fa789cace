"""X-Request-ID: accepted when sane, made otherwise, returned on every response; every log record carries the
request id, the tenant id and the user / API-key id; LOG_FORMAT=json renders one JSON object a line."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HEX32 = re.compile(r"[0-9a-f]{32}")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_a_sane_request_id_comes_back(api_client):
    response = api_client.get("/api/v1/users/me", HTTP_X_REQUEST_ID="edge-42.a_B")
    assert (response.status_code, response["X-Request-ID"]) == (200, "edge-42.a_B")


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["x" * 129, "has space", "semi;colon", "ünïcode", ""])
def test_an_unsafe_request_id_is_replaced(anon_client, sent):
    response = anon_client.get("/health", HTTP_X_REQUEST_ID=sent)
    assert HEX32.fullmatch(response["X-Request-ID"])


@pytest.mark.django_db
def test_the_longest_accepted_id_is_128_characters(anon_client):
    assert anon_client.get("/health", HTTP_X_REQUEST_ID="a" * 128)["X-Request-ID"] == "a" * 128


@pytest.mark.django_db
def test_every_response_has_one_even_errors_and_non_api_paths(anon_client):
    ids = set()
    for path in ("/api/v1/users/me", "/api/v1/no-such-route", "/health/live", "/admin/login/"):
        response = anon_client.get(path)
        assert HEX32.fullmatch(response["X-Request-ID"]), path
        ids.add(response["X-Request-ID"])
    assert len(ids) == 4  # one per request


@pytest.mark.django_db
def test_the_access_line_carries_request_tenant_and_user(api_client, user, json_log):
    api_client.get("/api/v1/users/me", HTTP_X_REQUEST_ID="req-1")
    [line] = [line for line in json_log() if line["logger"] == "stratum.request"]
    assert isinstance(line.pop("duration_ms"), float)
    assert line | {"ts": None} == {
        "ts": None, "level": "INFO", "logger": "stratum.request", "message": "GET /api/v1/users/me 200",
        "request_id": "req-1", "tenant_id": str(user.tenant_id), "user_id": str(user.pk),
        "method": "GET", "path": "/api/v1/users/me", "route": "api/v1/users/me", "status": 200,
    }


@pytest.mark.django_db
def test_an_api_key_request_names_the_key(user, make_key_client, json_log):
    client = make_key_client(user)
    assert client.get("/api/v1/users/me", HTTP_X_REQUEST_ID="req-2").status_code == 200
    [line] = [line for line in json_log() if line["logger"] == "stratum.request"]
    assert (line["request_id"], line["tenant_id"], line["user_id"], line["api_key_id"]) == (
        "req-2", str(user.tenant_id), str(user.pk), str(client.api_key.pk))


@pytest.mark.django_db
def test_an_anonymous_request_logs_no_principal(anon_client, json_log):
    anon_client.get("/health/live", HTTP_X_REQUEST_ID="req-3")
    [line] = [line for line in json_log() if line["logger"] == "stratum.request"]
    assert {key: line.get(key) for key in ("request_id", "tenant_id", "user_id", "api_key_id", "status")} == {
        "request_id": "req-3", "tenant_id": None, "user_id": None, "api_key_id": None, "status": 200}


def test_records_outside_a_request_have_no_request_id(json_log):
    logging.getLogger("stratum.test").warning("boom %s", 1, extra={"campaign": "c1"})
    [line] = [line for line in json_log() if line["logger"] == "stratum.test"]
    assert line | {"ts": None} == {"ts": None, "level": "WARNING", "logger": "stratum.test", "message": "boom 1",
                                   "campaign": "c1"}


def _log_one_line(**env) -> str:
    code = ("import django, logging; django.setup(); logging.getLogger('stratum.probe').warning('hello %s', 'ops')")
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("LOG_FORMAT", "DEBUG", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=environment | {"DJANGO_SETTINGS_MODULE": "stratum.settings"} | env, check=True)
    return result.stderr.strip().splitlines()[-1]


def test_log_format_json_is_one_object_a_line():
    line = json.loads(_log_one_line(LOG_FORMAT="json"))
    assert line | {"ts": None} == {"ts": None, "level": "WARNING", "logger": "stratum.probe", "message": "hello ops"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])


def test_text_is_the_default_under_debug():
    assert re.fullmatch(r"\S+ \S+ WARNING stratum\.probe hello ops", _log_one_line(DEBUG="1"))


def test_an_unknown_log_format_refuses_to_start():
    with pytest.raises(subprocess.CalledProcessError) as failure:
        _log_one_line(LOG_FORMAT="xml")
    assert "LOG_FORMAT='xml' is not valid: expected json or text." in failure.value.stderr
