"""GET /metrics: Prometheus text to `Authorization: Bearer $METRICS_TOKEN` only; the product's counters move when the
API is used (read back through /metrics itself, as Prometheus would)."""
from __future__ import annotations

import pytest

from tests.accounts.factories import TenantFactory, UserFactory
from tests.helpers import client_for

from .conftest import TOKEN, scrape, value

BATCH = "/api/v1/cdp/events/batch"


@pytest.mark.django_db
class TestAccess:
    def test_unset_token_hides_the_route(self, anon_client, settings):
        settings.METRICS_TOKEN = None
        assert anon_client.get("/metrics").status_code == 404
        assert anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404

    @pytest.mark.parametrize("header", [None, "", "Bearer wrong-token-0123456789ab", f"Basic {TOKEN}",
                                        f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", TOKEN])
    def test_a_missing_or_wrong_token_is_404(self, anon_client, metrics_token, header):
        extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
        assert anon_client.get("/metrics", **extra).status_code == 404

    def test_the_token_gets_the_exposition_with_requests_and_database(self, anon_client, api_client, metrics_token):
        api_client.get("/api/v1/users/me")
        samples = scrape(anon_client)
        names = {name for name, _ in samples}
        assert {"django_http_requests_total_by_method_total", "django_http_responses_total_by_status_total",
                "django_http_requests_latency_seconds_by_view_method_count", "django_db_execute_total",
                "django_db_query_duration_seconds_count", "stratum_identity_merges_total"} <= names
        assert value(samples, "django_http_responses_total_by_status_total", status="200") >= 1
        assert sum(v for (name, _), v in samples.items() if name == "django_db_execute_total") >= 1


@pytest.mark.django_db
class TestCountersMove:
    def test_events_ingested_rejected_and_merges(self, api_client, anon_client, metrics_token):
        before = scrape(anon_client)
        response = api_client.post(BATCH, {"events": [
            {"identifiers": {"email": "a@shop.example"}, "event_type": "signup"},
            {"identifiers": {"phone": "+14155550101"}, "event_type": "signup"},
            {"identifiers": {"email": "a@shop.example", "phone": "+14155550101"}, "event_type": "login"},
            {"event_type": "no identifiers"},
        ]}, format="json")
        assert response.status_code == 200, response.content
        assert (response.json()["created"], response.json()["rejected"]) == (3, 1)
        after = scrape(anon_client)
        assert value(after, "stratum_events_ingested_total", source="batch") - value(
            before, "stratum_events_ingested_total", source="batch") == 3
        assert value(after, "stratum_events_rejected_total", source="batch") - value(
            before, "stratum_events_rejected_total", source="batch") == 1
        assert value(after, "stratum_identity_merges_total") - value(before, "stratum_identity_merges_total") == 1

    def test_a_refused_batch(self, api_client, anon_client, metrics_token):
        before = scrape(anon_client)
        too_many = {"events": [{"event_type": "x", "identifiers": {"anonymous_id": "a"}}] * 1001}
        assert api_client.post(BATCH, too_many, format="json").status_code == 413
        assert api_client.post(BATCH, {"events": "nope"}, format="json").status_code == 422
        after = scrape(anon_client)
        for reason in ("too_many_events", "malformed"):
            assert value(after, "stratum_batches_rejected_total", reason=reason) - value(
                before, "stratum_batches_rejected_total", reason=reason) == 1

    def test_segment_refresh_and_task_durations(self, api_client, anon_client, metrics_token,
                                               django_capture_on_commit_callbacks):
        before = scrape(anon_client)
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post("/api/v1/cdp/segments", {"name": "Signed up", "conditions": [
                {"field": "lifecycle_stage", "operator": "equals", "value": "lead"}]}, format="json")
        assert response.status_code == 201, response.content
        after = scrape(anon_client)
        assert value(after, "stratum_segment_refresh_seconds_count") - value(
            before, "stratum_segment_refresh_seconds_count") >= 1
        task = {"task": "cdp.tasks.segment_refresh_task", "outcome": "success"}
        assert value(after, "stratum_celery_task_duration_seconds_count", **task) - value(
            before, "stratum_celery_task_duration_seconds_count", **task) == 1

    def test_rate_limit_refusals(self, anon_client, metrics_token):
        tenant = TenantFactory(plan="starter", limit_overrides={"api_requests_per_minute": 2, "api_burst": 2})
        client = client_for(UserFactory(tenant=tenant, role="owner"))
        before = scrape(anon_client)
        statuses = [client.get("/api/v1/users/me").status_code for _ in range(4)]
        assert statuses == [200, 200, 429, 429]
        after = scrape(anon_client)
        assert value(after, "stratum_rate_limit_refusals_total", limit="tenant") - value(
            before, "stratum_rate_limit_refusals_total", limit="tenant") == 2
