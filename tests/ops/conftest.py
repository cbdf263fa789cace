"""Fixtures of the operations tests."""
from __future__ import annotations

import io
import json
import logging
import socket

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


# --- S3: moto's S3 server, a real HTTP endpoint on loopback ---------------------------------

BUCKET = "stratum-test-files"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint):
    """An empty bucket on the moto server (a boto3 client on it), emptied and removed afterwards."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def s3_environment(endpoint: str) -> dict[str, str]:
    """What an operator sets for S3 storage: the environment of a server or worker process on the moto bucket."""
    return {"AWS_STORAGE_BUCKET_NAME": BUCKET, "AWS_S3_ENDPOINT_URL": endpoint, "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_S3_ADDRESSING_STYLE": "path"}


@pytest.fixture
def s3(settings, bucket, s3_endpoint):
    """The production settings for S3 (what STORAGE_BACKEND=s3 and the AWS_* variables build)."""
    settings.STORAGE_BACKEND = "s3"
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": BUCKET, "endpoint_url": s3_endpoint, "region_name": "us-east-1", "access_key": "test",
        "secret_key": "test", "location": "", "addressing_style": "path", "default_acl": None,
        "querystring_auth": True, "querystring_expire": settings.STORAGE_SIGNED_URL_SECONDS, "file_overwrite": True,
        "signature_version": "s3v4"}}}
    return bucket


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
