"""The request id and tenant id travel into the Celery tasks a request queues (message headers); every task logs one
start and one end line with its task id, tenant id, request id, outcome and duration."""
from __future__ import annotations

import threading

import pytest
from celery import shared_task
from celery.contrib.testing.worker import start_worker

from stratum.api.observability import RequestContextFilter, current_request_id, current_tenant_id
from stratum.api.queueing import task_enqueue
from stratum.api.tenancy import tenant_scope
from stratum.celery import app

SEEN: list[tuple] = []
RAN = threading.Event()


@shared_task(name="tests.ops.context_probe")
def context_probe(tenant_id: str | None = None, fail: bool = False) -> None:
    import logging

    logging.getLogger("stratum.probe").info("inside the task")
    record = logging.makeLogRecord({"msg": "probe"})
    RequestContextFilter().filter(record)  # what every log line of the task carries
    SEEN.append((current_request_id(), current_tenant_id(), record.request_id, record.tenant_id, record.task_id))
    RAN.set()
    if fail:
        raise RuntimeError("probe failed")


def _task_lines(lines, name):
    return [line for line in lines if line["logger"] == "stratum.tasks" and line.get("task_name") == name]


@pytest.mark.django_db
def test_a_report_render_queued_by_a_request_logs_with_its_request_and_tenant(api_client, user, json_log,
                                                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/reporting/reports", {
            "template_id": "performance_summary", "name": "March", "format": "csv",
            "date_range": {"start": "2026-03-01", "end": "2026-03-14"}}, format="json", HTTP_X_REQUEST_ID="req-task-1")
    assert response.status_code == 202, response.content
    lines = _task_lines(json_log(), "analytics.tasks.report_render_task")
    assert [line["event"] for line in lines] == ["task_started", "task_finished"]
    started, finished = lines
    assert started["task_id"] == finished["task_id"] and len(started["task_id"]) == 36
    for line in lines:
        assert (line["request_id"], line["tenant_id"]) == ("req-task-1", str(user.tenant_id))
    assert (finished["level"], finished["outcome"], finished["message"]) == (
        "INFO", "success", "task analytics.tasks.report_render_task success")
    assert isinstance(finished["duration_ms"], float) and finished["duration_ms"] >= 0
    assert "task_id" not in [line for line in json_log() if line["logger"] == "stratum.request"][-1]


@pytest.mark.django_db
def test_a_failing_task_logs_its_failure(tenant, json_log):
    with tenant_scope(tenant), pytest.raises(RuntimeError):
        task_enqueue(name="tests.ops.context_probe", kwargs={"fail": True}, on_commit=False)
    started, finished = _task_lines(json_log(), "tests.ops.context_probe")
    assert (started["tenant_id"], finished["tenant_id"]) == (str(tenant.pk), str(tenant.pk))
    assert (finished["level"], finished["outcome"]) == ("ERROR", "failure")
    assert "request_id" not in finished  # queued outside a request: no id is made up


@pytest.mark.django_db(transaction=True)
def test_the_ids_travel_through_a_real_broker_to_a_worker(tenant):
    """Not eager: the message goes through the broker (Redis with REDIS_URL, else in memory) to a worker thread,
    which reads the headers."""
    from stratum.api.observability import _current_request

    SEEN.clear()
    RAN.clear()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10):
            class FakeRequest:
                request_id = "req-broker-7"

            token = _current_request.set(FakeRequest())
            try:
                with tenant_scope(tenant):
                    task_enqueue(name="tests.ops.context_probe", on_commit=False)
            finally:
                _current_request.reset(token)
            assert RAN.wait(20)
    finally:
        app.conf.task_always_eager = eager
    [(request_id, tenant_id, *logged)] = SEEN
    assert (request_id, tenant_id, *logged[:2]) == ("req-broker-7", str(tenant.pk), "req-broker-7", str(tenant.pk))
    assert len(logged[2]) == 36  # the task id
