"""Audience sync never makes a second platform audience: a worker killed right after the create, a create whose
answer was lost, two workers on one run, two tenants on one ad account. Meta is the stand-in of tests/cluster/outside.py
(a Graph API over HTTP in a thread: custom audiences created, listed by name, fed with `/users`); only the platform is
simulated — the real connector, HTTP client, services and tasks run."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter

import httpx
import pytest
from django.db import connection, connections
from django.utils import timezone

from campaigns.connectors.hashing import sha256
from cdp.models import Audience, AudienceMember, AudienceSyncRun
from cdp.services import audiences as audience_services
from cdp.tasks import audience_sync_task
from integrations import http as integrations_http
from stratum.api.crypto import secret_encrypt
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.campaigns.factories import AdAccountFactory
from tests.cdp.factories import ProfileFactory, SegmentFactory
from tests.cluster.outside import FakeGraphApi
from tests.helpers import assert_error, client_for
from tests.integrations.factories import ConnectionFactory

TOKEN, ACCOUNT = "meta-test-token", "act_777"
BASE = "/api/v1/cdp/audience-sync/audiences"


class WorkerKilled(BaseException):
    """What a SIGKILLed worker amounts to for the code it was running: nothing after this line runs, no handler."""


@pytest.fixture
def graph(settings):
    api = FakeGraphApi(token=TOKEN, account_id=ACCOUNT)
    api.start()
    settings.META_GRAPH_URL = api.url
    settings.INTEGRATIONS_HTTP_TIMEOUT = 2.0
    yield api
    if api.hold is not None:
        api.hold.release.set()
    api.close()


def shop(tenant, *, prefix: str, count: int = 5) -> Audience:
    """A tenant's Meta ad account (connected with the stand-in's token) and an audience of its `count` customers."""
    connection_ = ConnectionFactory(tenant=tenant, provider="meta", access_token_encrypted=secret_encrypt(TOKEN),
                                    scopes=["ads_management"])
    AdAccountFactory(tenant=tenant, platform="meta", external_id=ACCOUNT, connection_id=connection_.pk)
    for n in range(count):
        ProfileFactory(tenant=tenant, email=f"{prefix}{n}@shop.example", phone="", lifecycle_stage="customer")
    segment = SegmentFactory(tenant=tenant, name="Customers", conditions={"operator": "and", "rules": [
        {"field": "lifecycle_stage", "operator": "equals", "value": "customer"}]})
    with tenant_scope(tenant):
        return audience_services.audience_create(
            tenant=tenant, name="Buyers", segment=segment, platform="meta",
            platform_config={"ad_account_id": ACCOUNT}, sync_frequency="manual")


def requested(tenant, audience) -> AudienceSyncRun:
    with tenant_scope(tenant):
        return audience_services.audience_sync_request(tenant=tenant, audience=audience)


def hashes(prefix: str, count: int = 5) -> Counter:
    return Counter({(sha256(f"{prefix}{n}@shop.example"), ""): 1 for n in range(count)})


def die_at(monkeypatch, stage: str, when) -> None:
    """The worker dies once, at the first call `when(request)` picks: as it sends it ("request": the platform never
    gets it) or as the answer arrives ("response": the platform did it)."""
    build, killed = integrations_http.http_client, []

    def client() -> httpx.Client:
        made = build()

        def hook(message) -> None:
            request = message if stage == "request" else message.request
            if not killed and when(request):
                killed.append(request.url.path)
                raise WorkerKilled
        made.event_hooks[stage].append(hook)
        return made

    monkeypatch.setattr(integrations_http, "http_client", client)


def reload(run) -> AudienceSyncRun:
    return AudienceSyncRun.objects.unscoped().get(pk=run.pk)


def test_a_worker_killed_right_after_the_create_leaves_one_audience_and_the_retry_fills_it(
        graph, tenant, monkeypatch):
    monkeypatch.setitem(audience_services.BATCH_LIMITS, "meta", 2)
    audience = shop(tenant, prefix="buyer")
    run = requested(tenant, audience)
    die_at(monkeypatch, "request", lambda request: request.url.path.endswith("/users"))
    with pytest.raises(WorkerKilled):
        audience_sync_task(str(tenant.pk), str(run.pk))
    (created,) = graph.audiences  # created once, and its id recorded before any member went up
    assert Audience.objects.unscoped().get(pk=audience.pk).external_audience_id == created
    assert graph.audiences[created]["name"] == f"Buyers (Stratum {audience.pk})"
    assert graph.uploads() == Counter() and reload(run).status == "running"

    audience_sync_task(str(tenant.pk), str(run.pk))  # the broker redelivers the unacknowledged task
    run = reload(run)
    assert (run.status, run.added, run.removed, run.error) == ("success", 5, 0, "")
    assert list(graph.audiences) == [created] and graph.uploads() == hashes("buyer")  # each member once
    assert [c for c in graph.calls if c[0] == "POST" and c[1].endswith("/customaudiences")] == [
        ("POST", f"/{graph_version()}/{ACCOUNT}/customaudiences")]

    second = requested(tenant, Audience.objects.unscoped().get(pk=audience.pk))
    audience_sync_task(str(tenant.pk), str(second.pk))
    second = reload(second)
    assert (second.status, second.added, second.removed) == ("success", 0, 0)
    assert graph.uploads() == hashes("buyer") and len(graph.audiences) == 1  # a second sync sends nothing


def test_a_create_whose_answer_was_lost_is_found_by_its_name_not_made_again(graph, tenant):
    audience = shop(tenant, prefix="buyer")
    lost = graph.lose_next("/customaudiences", method="POST")
    run = requested(tenant, audience)
    started = time.monotonic()
    audience_sync_task(str(tenant.pk), str(run.pk))
    lost.release.set()
    run = reload(run)
    assert lost.arrived.is_set() and time.monotonic() - started >= 2.0  # the client waited out its timeout
    assert (run.status, run.added, run.error) == ("success", 5, "")
    (created,) = graph.audiences
    assert Audience.objects.unscoped().get(pk=audience.pk).external_audience_id == created
    assert graph.uploads() == hashes("buyer")
    posts = [c for c in graph.calls if c[1].endswith("/customaudiences")]
    assert [method for method, _ in posts] == ["GET", "POST", "GET"]  # looked, created (answer lost), looked again


def test_a_redelivered_task_finds_the_audience_its_dead_worker_created_but_never_recorded(
        graph, tenant, monkeypatch):
    """The worker died with Meta's answer to the create in hand, before the id was committed."""
    audience = shop(tenant, prefix="buyer")
    run = requested(tenant, audience)
    die_at(monkeypatch, "response", lambda request: request.method == "POST"
           and request.url.path.endswith("/customaudiences"))
    with pytest.raises(WorkerKilled):
        audience_sync_task(str(tenant.pk), str(run.pk))
    assert len(graph.audiences) == 1 and Audience.objects.unscoped().get(pk=audience.pk).external_audience_id == ""
    audience_sync_task(str(tenant.pk), str(run.pk))
    run = reload(run)
    assert (run.status, run.added) == ("success", 5)
    (created,) = graph.audiences
    assert Audience.objects.unscoped().get(pk=audience.pk).external_audience_id == created
    assert graph.uploads() == hashes("buyer")


def test_a_tenant_never_finds_another_tenants_audience_on_a_shared_ad_account(graph, tenant, db):
    """Two tenants connected to the same Meta ad account, each with an audience called "Buyers"."""
    audience_a = shop(tenant, prefix="a")
    other = TenantFactory(plan="enterprise")
    audience_b = shop(other, prefix="b", count=3)
    audience_sync_task(str(tenant.pk), str(requested(tenant, audience_a).pk))
    run_b = requested(other, audience_b)
    audience_sync_task(str(other.pk), str(run_b.pk))
    assert reload(run_b).status == "success"
    ids = {Audience.objects.unscoped().get(pk=a.pk).external_audience_id for a in (audience_a, audience_b)}
    assert ids == set(graph.audiences) and len(ids) == 2
    by_name = {audience["name"]: audience["users"] for audience in graph.audiences.values()}
    assert by_name == {f"Buyers (Stratum {audience_a.pk})": hashes("a"),
                       f"Buyers (Stratum {audience_b.pk})": hashes("b", 3)}
    client_b = client_for(UserFactory(tenant=other, role="owner"))
    assert client_b.get(f"{BASE}/{audience_b.pk}").json()["external_audience_id"] in ids
    assert_error(client_b.get(f"{BASE}/{audience_a.pk}"), 404)
    assert AudienceMember.objects.unscoped().filter(audience=audience_b).count() == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two workers at once need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_run_at_once_create_one_audience(graph):
    tenant = TenantFactory(plan="enterprise")
    audience = shop(tenant, prefix="buyer")
    Audience.objects.unscoped().filter(pk=audience.pk).update(status=Audience.Status.SYNCING)
    run = AudienceSyncRun.objects.unscoped().create(tenant=tenant, audience=audience, started_at=timezone.now())
    slow = graph.delay_next("/customaudiences", method="POST")
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            audience_sync_task(str(tenant.pk), str(run.pk))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert slow.arrived.wait(30), "no worker reached the platform"
    deadline = time.monotonic() + 30
    while waiting_on_the_creation_lock() < 1:  # the other worker queues behind the one creating
        assert time.monotonic() < deadline, "the second worker never waited for the first"
        time.sleep(0.05)
    slow.release.set()
    for thread in threads:
        thread.join(60)
    assert errors == []
    run = reload(run)
    assert (run.status, run.error) == ("success", "")
    (created,) = graph.audiences
    assert Audience.objects.unscoped().get(pk=audience.pk).external_audience_id == created
    assert set(graph.uploads()) == set(hashes("buyer"))  # everyone in it (a concurrent re-send Meta dedupes)
    assert sum(1 for method, path in graph.calls if method == "POST" and path.endswith("/customaudiences")) == 1


def waiting_on_the_creation_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0]


def graph_version() -> str:
    from django.conf import settings

    return settings.META_GRAPH_VERSION


TIKTOK = "https://business-api.tiktok.com/open_api/v1.3"


def tiktok_ok(data) -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "message": "OK", "request_id": "2026", "data": data})


def test_tiktok_creates_with_its_first_file_and_a_lost_answer_is_found_by_the_next_sync(tenant, respx_mock):
    """TikTok makes an audience only with its first file (Custom Audience create, `file_paths`): the stand-in keeps
    what it made, answers the create with a 504 the first time, and lists its audiences (Get all audiences)."""
    connection_ = ConnectionFactory(tenant=tenant, provider="tiktok", token_expires_at=None)
    AdAccountFactory(tenant=tenant, platform="tiktok", external_id="7001", connection_id=connection_.pk)
    ProfileFactory.create_batch(1000, tenant=tenant, lifecycle_stage="customer")
    segment = SegmentFactory(tenant=tenant, name="Customers", conditions={"operator": "and", "rules": [
        {"field": "lifecycle_stage", "operator": "equals", "value": "customer"}]})
    with tenant_scope(tenant):
        audience = audience_services.audience_create(tenant=tenant, name="Buyers", segment=segment, platform="tiktok",
                                                     platform_config={"ad_account_id": "7001"}, sync_frequency="manual")
    made: dict[str, dict] = {}

    def create(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        made[f"ca-{len(made) + 1}"] = {"name": body["custom_audience_name"], "files": list(body["file_paths"])}
        return httpx.Response(504, text="Gateway Timeout") if len(made) == 1 else tiktok_ok(
            {"custom_audience_id": f"ca-{len(made)}"})

    respx_mock.post(f"{TIKTOK}/dmp/custom_audience/file/upload/").mock(return_value=tiktok_ok({"file_path": "f-1"}))
    respx_mock.post(f"{TIKTOK}/dmp/custom_audience/create/").mock(side_effect=create)
    respx_mock.get(f"{TIKTOK}/dmp/custom_audience/list/").mock(side_effect=lambda request: tiktok_ok({
        "list": [{"audience_id": key, "name": item["name"]} for key, item in made.items()],
        "page_info": {"page": 1, "page_size": 100, "total_number": len(made), "total_page": 1}}))
    respx_mock.get(f"{TIKTOK}/dmp/custom_audience/get/").mock(return_value=tiktok_ok({"list": [{"audience_details": {
        "audience_id": "ca-1", "calculate_type": "EMAIL_SHA256", "cover_num": 1000}}]}))
    append = respx_mock.post(f"{TIKTOK}/dmp/custom_audience/update/").mock(return_value=tiktok_ok({}))

    first = requested(tenant, audience)
    audience_sync_task(str(tenant.pk), str(first.pk))
    first = reload(first)
    assert (first.status, first.added) == ("failed", 0) and first.error.startswith("PLATFORM_UNAVAILABLE")
    assert list(made) == ["ca-1"] and made["ca-1"]["name"] == f"Buyers (Stratum {audience.pk})"
    second = requested(tenant, Audience.objects.unscoped().get(pk=audience.pk))
    audience_sync_task(str(tenant.pk), str(second.pk))
    second = reload(second)
    assert (second.status, second.added, second.error) == ("success", 1000, "")
    assert list(made) == ["ca-1"]  # found by its name: no second audience
    assert Audience.objects.unscoped().get(pk=audience.pk).external_audience_id == "ca-1"
    assert json.loads(append.calls[0].request.content)["custom_audience_id"] == "ca-1"  # the members into it
