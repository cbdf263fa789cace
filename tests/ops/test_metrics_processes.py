"""Several processes, one truth: a gunicorn with three workers and PROMETHEUS_MULTIPROC_DIR answers /metrics with the
sum over every worker process — whichever worker serves the scrape — not the share of the one that answered."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from accounts.services import api_key_create
from stratum.api.permissions import SCOPES
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.faults.conftest import dump_logs_on_failure, needs_postgres
from tests.faults.services import AppServer, service_env, subprocess_database_url

pytestmark = [pytest.mark.postgres, needs_postgres, pytest.mark.django_db(transaction=True)]

TOKEN = "metrics-token-0123456789abcdef"
WORKERS = 3
BATCHES = 18


@pytest.fixture
def api_key():
    tenant = TenantFactory(plan="enterprise", settings={"timezone": "UTC", "currency": "USD"})
    user = UserFactory(tenant=tenant, role="owner")
    with tenant_scope(tenant):
        _, key = api_key_create(tenant=tenant, created_by=user, name="metrics", permissions=list(SCOPES),
                                expires_at=None)
    return key


@pytest.fixture
def server(tmp_path, request):
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    app = AppServer(workers=WORKERS, env=service_env(
        DATABASE_URL=subprocess_database_url(), RATELIMIT_ENABLED="0", METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(multiproc)))
    app.start()
    yield app, multiproc
    dump_logs_on_failure(request, app)
    app.close()


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_metrics_are_summed_over_the_gunicorn_workers(api_key, server):
    app, multiproc = server
    headers = {"Authorization": f"Bearer {api_key}"}

    def batch(n: int) -> int:
        with httpx.Client(base_url=app.url, headers=headers, timeout=60) as client:
            return client.post("/api/v1/cdp/events/batch", json={"events": [
                {"identifiers": {"external_id": f"m-{n}-{i}"}, "event_type": "page_view"} for i in range(2)]
                + [{"event_type": "no identifiers"}]}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(batch, range(BATCHES))) == [200] * BATCHES
    # Every worker process that counted wrote its own file (pid in the name): the load was really spread.
    writers = {path.stem.rsplit("_", 1)[-1] for path in multiproc.glob("counter_*.db")}
    assert len(writers) >= 2, sorted(path.name for path in multiproc.iterdir())

    ingested = ("stratum_events_ingested_total", (("source", "batch"),))
    rejected = ("stratum_events_rejected_total", (("source", "batch"),))
    for _ in range(2 * WORKERS):  # scrapes land on different workers; each answers the whole sum
        samples = scrape(app.url)
        assert (samples.get(ingested), samples.get(rejected)) == (2 * BATCHES, BATCHES)
        posts = sum(value for (name, labels), value in samples.items()
                    if name == "django_http_requests_total_by_method_total" and ("method", "POST") in labels)
        assert posts == BATCHES
