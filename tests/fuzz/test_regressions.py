"""Regression tests for what the schema fuzzer (test_schema_fuzz.py) found, as plain requests.

They run on every database (the fuzz itself runs once per CI run, on PostgreSQL). Each test names the
defect: what the fuzzer sent, what the API answered, and what it answers now.
"""
from __future__ import annotations

import pytest
from django.test import Client

from tests.helpers import assert_error


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unsafe_method_on_an_unknown_api_url_is_a_json_404_not_the_csrf_page(db, method):
    """Found: PATCH /api/v1/campaigns/%F3%A3%96%A6 (a path parameter no route matches) answered Django's HTML
    "403 CSRF cookie not set" page. A real client is CSRF-checked (the test client is not by default)."""
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)("/api/v1/campaigns/\u00e9\u00e8/not-a-route", data="{}",
                                       content_type="application/json", HTTP_AUTHORIZATION="Bearer whatever")
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, 404, "NOT_FOUND")
