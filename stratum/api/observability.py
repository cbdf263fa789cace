"""Request ids and log context: every response carries `X-Request-ID`, every log record the request id, the
tenant id and the user / API-key id when known; `LOG_FORMAT=json` renders records as one JSON object a line.

Celery: a task queued while a request (or another task) runs carries the request id and the tenant id in its message
headers (`task_context_headers`, added by `stratum.celery.StratumTask.apply_async`); the worker's signal handlers
(`task_started` / `task_finished`) put them back in the log context and write one start and one end line per task.

Imported by the logging configuration before the app registry is ready: no model imports at module level.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from django.utils.functional import SimpleLazyObject, empty

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_MAX_LENGTH = 128
_REQUEST_ID_RE = re.compile(rf"[A-Za-z0-9._-]{{1,{REQUEST_ID_MAX_LENGTH}}}")

_current_request: contextvars.ContextVar = contextvars.ContextVar("stratum_request", default=None)
# The Celery task running in this context: {"task_id", "task_name", "request_id", "tenant_id"} (from its headers).
_current_task: contextvars.ContextVar = contextvars.ContextVar("stratum_task", default=None)
access_logger = logging.getLogger("stratum.request")
TRACING = {"on": False, "annotate": None}  # set by stratum.api.telemetry when OpenTelemetry is instrumented (the
# annotate hook keeps this module from importing telemetry, which imports it)
task_logger = logging.getLogger("stratum.tasks")

REQUEST_ID_TASK_HEADER = "stratum_request_id"
TENANT_ID_TASK_HEADER = "stratum_tenant_id"


def sanitize_request_id(value: str | None) -> str:
    """The caller's id when it is 1–128 characters of [A-Za-z0-9._-]; otherwise a fresh uuid4 hex."""
    if value and _REQUEST_ID_RE.fullmatch(value):
        return value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being served, or of the request that queued the running task."""
    request = _current_request.get()
    if request is not None:
        return getattr(request, "request_id", None)
    task = _current_task.get()
    return task["request_id"] if task is not None else None


def current_tenant_id() -> str | None:
    """The tenant in scope (a task's or command's `tenant_scope`), the request's tenant, or the running task's."""
    try:
        from .tenancy import current_tenant

        tenant = current_tenant()
    except Exception:  # the app registry is not ready yet (records logged during startup)
        tenant = None
    request = _current_request.get()
    if tenant is None and request is not None:
        tenant = getattr(request, "tenant", None)
    if tenant is not None and tenant.pk is not None:
        return str(tenant.pk)
    task = _current_task.get()
    return task["tenant_id"] if task is not None else None


class RequestIdMiddleware:
    """Outermost middleware: takes or makes the request id, holds the request for the log filter, returns the
    id on every response and writes one access line (route, status, duration)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = sanitize_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        token = _current_request.set(request)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request.request_id
            if TRACING["on"]:  # the request's span learns the tenant once the view authenticated the caller
                TRACING["annotate"](tenant_id=current_tenant_id(), request_id=request.request_id)
            match = getattr(request, "resolver_match", None)
            access_logger.info(
                "%s %s %s", request.method, request.path, response.status_code,
                extra={"method": request.method, "path": request.path,
                       "route": match.route if match is not None else None,
                       "status": response.status_code,
                       "duration_ms": round((time.monotonic() - started) * 1000, 1)},
            )
            return response
        finally:
            _current_request.reset(token)


def _principal_ids(request) -> tuple[str | None, str | None]:
    """(user id, API-key id) of an authenticated request, without triggering a lazy authentication."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    user_id = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
    auth = request.__dict__.get("auth")
    from django.db.models import Model

    api_key_id = auth.pk if isinstance(auth, Model) else None  # JWT auth is a token, an API key a model row
    return (str(user_id) if user_id is not None else None), (str(api_key_id) if api_key_id is not None else None)


class RequestContextFilter(logging.Filter):
    """Adds request_id, tenant_id, user_id and api_key_id (None when unknown) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _current_request.get()
        task = _current_task.get()
        user_id = api_key_id = None
        if request is not None:
            user_id, api_key_id = _principal_ids(request)
        record.request_id = current_request_id()
        record.tenant_id = current_tenant_id()
        record.user_id = user_id
        record.api_key_id = api_key_id
        record.task_id = task["task_id"] if task is not None else None
        return True


# --- Celery tasks ------------------------------------------------------------------------------------------------
def task_context_headers() -> dict[str, str]:
    """Message headers for a task queued now: the current request id and tenant id (those known)."""
    headers = {}
    if (request_id := current_request_id()) is not None:
        headers[REQUEST_ID_TASK_HEADER] = request_id
    if (tenant_id := current_tenant_id()) is not None:
        headers[TENANT_ID_TASK_HEADER] = tenant_id
    return headers


def _task_header(task, name: str) -> str | None:
    """A custom header of the running task: under `request.headers` when applied in-process, an attribute of the
    request when a worker received the message."""
    request = task.request
    value = (getattr(request, "headers", None) or {}).get(name) or getattr(request, name, None)
    return str(value) if value is not None else None


_running: dict[str, tuple[contextvars.Token, float]] = {}


def task_started(*, task_id: str, task, kwargs: dict | None = None) -> None:
    """task_prerun: the task's context (its id, its request's id, its tenant) goes into every log record."""
    tenant_id = _task_header(task, TENANT_ID_TASK_HEADER) or (kwargs or {}).get("tenant_id")
    context = {"task_id": task_id, "task_name": task.name, "request_id": _task_header(task, REQUEST_ID_TASK_HEADER),
               "tenant_id": str(tenant_id) if tenant_id else None}
    token = _current_task.set(context)
    _running[task_id] = (token, time.monotonic())
    task_logger.info("task %s started", task.name, extra={"task_name": task.name, "event": "task_started"})


def task_finished(*, task_id: str, task, state: str | None) -> float | None:
    """task_postrun: one end line with the outcome and the duration; the context is dropped. Returns seconds."""
    entry = _running.pop(task_id, None)
    duration = time.monotonic() - entry[1] if entry is not None else None
    outcome = (state or "UNKNOWN").lower()
    level = logging.ERROR if outcome == "failure" else logging.INFO
    task_logger.log(level, "task %s %s", task.name, outcome,
                    extra={"task_name": task.name, "event": "task_finished", "outcome": outcome,
                           "duration_ms": round(duration * 1000, 1) if duration is not None else None})
    if entry is not None:
        try:
            _current_task.reset(entry[0])
        except ValueError:  # postrun ran in another context than prerun: just clear it
            _current_task.set(None)
    return duration


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_CONTEXT_ATTRS = ("request_id", "tenant_id", "user_id", "api_key_id", "task_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, the context ids that are known, `extra` fields
    and the formatted exception."""

    def format(self, record: logging.LogRecord) -> str:
        body = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_ATTRS:
            value = getattr(record, name, None)
            if value is not None:
                body[name] = value
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and name not in _CONTEXT_ATTRS and not name.startswith("_"):
                body[name] = value
        if record.exc_info:
            body["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            body["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(body, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain format, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        tenant_id = getattr(record, "tenant_id", None)
        task_id = getattr(record, "task_id", None)
        parts = [f"req={request_id}"] if request_id else []
        if tenant_id:
            parts.append(f"tenant={tenant_id}")
        if task_id:
            parts.append(f"task={task_id}")
        record = logging.makeLogRecord(record.__dict__)  # a copy: other handlers see the record unchanged
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)
