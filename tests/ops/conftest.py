"""Fixtures of the operations tests."""
from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stratum.api.observability import JsonFormatter, RequestContextFilter
from tests.faults.services import PrivateRedis


@pytest.fixture
def json_log():
    """The production handler (context filter + JSON formatter) on the root logger, into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    access = [logging.getLogger(name) for name in ("stratum.request", "stratum.tasks")]
    root.addHandler(handler)
    levels = [logger.level for logger in access]
    for logger in access:
        logger.setLevel(logging.INFO)  # the production level (WARNING under DEBUG: ACCESS_LOG_LEVEL)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    for logger, level in zip(access, levels, strict=True):
        logger.setLevel(level)
    root.removeHandler(handler)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """`request.node.rep_call`: fixtures that run server processes show their output under a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def private_redis():
    """A redis-server of the test's own (the broker of the server and worker processes it starts)."""
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.close()


# --- /metrics, read as Prometheus reads it ----------------------------------------------------

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:200]
    assert response["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples}


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
