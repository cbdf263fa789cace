"""S3 in tests: moto's S3 server, a real HTTP S3 endpoint on loopback (not a mock of the client), a bucket on it,
and the settings (or the environment of a server process) that put Django's default storage there. The fixtures are
registered for every test by tests/conftest.py."""
from __future__ import annotations

import socket

import pytest

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
