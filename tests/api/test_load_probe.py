"""The load test's yardstick view exists only when LOAD_PROBE_ENABLED is set (`make load`)."""
from __future__ import annotations

import importlib

import pytest
from django.test import Client
from django.urls import clear_url_caches

import stratum.urls


@pytest.fixture
def reload_urls(settings):
    yield
    settings.LOAD_PROBE_ENABLED = False
    clear_url_caches()
    importlib.reload(stratum.urls)


def test_absent_by_default(db):
    assert Client().get("/_probe/json").status_code == 404


def test_served_when_the_load_run_enables_it(settings, reload_urls, db):
    """(the fixture mounts the URL conf without the probe again afterwards)"""
    settings.LOAD_PROBE_ENABLED = True
    importlib.reload(stratum.urls)
    clear_url_caches()
    response = Client().get("/_probe/json")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    schema = Client().get("/api/schema/?format=json")
    assert "/_probe/json" not in schema.json()["paths"]
