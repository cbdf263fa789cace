"""Read replicas: heavy reads go to a PostgreSQL streaming replica, everything else to the primary.

Opt-in: a view or selector that only reads a lot (dashboards, analytics, funnels, previews, reports, timelines) runs
inside `replica_reads()` — a context manager and a decorator. Outside it every query goes to the primary, as it does
when `DATABASE_REPLICA_URLS` is empty (the router then answers `None` and Django uses `default`; SQLite too).

Inside it a read still goes to the primary when
- this request or task has written (any INSERT/UPDATE/DELETE/COPY… on the primary since its scope began), or is
  inside a transaction on the primary;
- its tenant wrote within the last `REPLICA_STICKY_SECONDS` — recorded in the cache (Redis in production), so a write
  through one web host is read back through another host or a worker;
- every replica lags more than `REPLICA_MAX_LAG_SECONDS` behind (replay lag from pg_last_xact_replay_timestamp, checked
  at most every `REPLICA_LAG_CHECK_SECONDS` per process) or cannot be reached.

A replica that fails in the middle of a query (or refuses a new connection) fails that request — a 503 in the error
format with `Retry-After` (stratum.api.middleware) — and is taken out at the end of the request or task: the process's
next reads go to the primary until its next lag check finds the replica back. Nothing retries the read elsewhere.

The scope of "this request or task" is `read_scope()`, opened by `ReadScopeMiddleware` per request and by Celery's
task_prerun/task_postrun per task. docs/operations.md, "Read replicas".
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.signals import connection_created

from .tenancy import current_tenant

logger = logging.getLogger("stratum.api")

PRIMARY = DEFAULT_DB_ALIAS
_WRITE_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "CREATE", "DROP", "ALTER", "TRUNCATE",
                          "GRANT", "REVOKE", "VACUUM", "CLUSTER", "REINDEX", "LOCK"})
_WRITING_CTE = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b")
_ROW_LOCK = re.compile(r"\bFOR\s+(NO\s+KEY\s+)?UPDATE\b")
_LAG_SQL = """
SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9) END
"""


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICAS", ()))


def sql_writes(sql: str) -> bool:
    """Whether a statement changes data or takes row locks (a SELECT … FOR UPDATE belongs to a write)."""
    head = sql.lstrip(" \t\r\n(")[:12].split(None, 1)
    verb = head[0].upper() if head else ""
    if verb in _WRITE_VERBS:
        return True
    if verb == "WITH":
        return bool(_WRITING_CTE.search(sql.upper()))
    if verb == "SELECT" and "FOR " in sql[-200:].upper():
        return bool(_ROW_LOCK.search(sql[-200:].upper()))
    return False


# --- the scope of one request or task ------------------------------------------------------------

@dataclass
class ReadScope:
    wrote: bool = False
    tenant_ids: set[str] = field(default_factory=set)
    sticky: dict[str, bool] = field(default_factory=dict)  # tenant id -> wrote lately (asked once per scope)


_scope: contextvars.ContextVar[ReadScope | None] = contextvars.ContextVar("stratum_read_scope", default=None)
_NOT_WANTED, _STRICT, _OWN_WRITES_OK = 0, 1, 2
_replica_wanted: contextvars.ContextVar[int] = contextvars.ContextVar("stratum_replica_reads", default=_NOT_WANTED)
_marked_at: dict[str, float] = {}  # tenant id -> when this process last told the cache it wrote (throttle)


def _sticky_key(tenant_id: str) -> str:
    return f"replica:wrote:{tenant_id}"


def tenant_wrote(tenant_id: str, *, force: bool = False) -> None:
    """Records in the cache that `tenant_id` wrote now: its heavy reads go to the primary for REPLICA_STICKY_SECONDS,
    in every process. Throttled to once a second per tenant and process unless `force` (the end of a scope)."""
    now = time.monotonic()
    if not force and now - _marked_at.get(tenant_id, -1e9) < 1:
        return
    _marked_at[tenant_id] = now
    try:
        cache.set(_sticky_key(tenant_id), 1, timeout=settings.REPLICA_STICKY_SECONDS)
    except Exception:  # noqa: BLE001 - the cache down must not fail the write; reads then rely on the lag bound
        logger.warning("could not record tenant %s's write for read-your-writes", tenant_id, exc_info=True)


def tenant_wrote_recently(tenant_id: str) -> bool:
    try:
        return cache.get(_sticky_key(tenant_id)) is not None
    except Exception:  # noqa: BLE001 - not knowing means the primary
        return True


def write_seen() -> None:
    """Called for every writing statement on the primary: marks the scope as having written and remembers its
    tenant, recorded in the cache when the scope ends (its writes committed, before the response leaves); outside
    any scope (a command, a shell) the tenant is recorded at once."""
    scope = _scope.get()
    tenant = current_tenant()
    tenant_id = str(tenant.pk) if tenant is not None and tenant.pk is not None else None
    if scope is not None:
        scope.wrote = True
        if tenant_id:
            scope.tenant_ids.add(tenant_id)
    elif tenant_id:
        tenant_wrote(tenant_id)


@contextlib.contextmanager
def read_scope() -> Iterator[ReadScope]:
    """One request or task: what it writes sends its own later reads to the primary; at its end (its writes
    committed) its tenants are marked in the cache so other processes read them from the primary too."""
    scope = ReadScope()
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)
        replica_failures_note()
        for tenant_id in scope.tenant_ids:
            tenant_wrote(tenant_id, force=True)


class ReadScopeMiddleware:
    """Opens a `read_scope()` per request (only when replicas are configured)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.enabled = bool(replica_aliases())

    def __call__(self, request):
        if not self.enabled:
            return self.get_response(request)
        with read_scope():
            return self.get_response(request)


def task_scope_enter() -> contextvars.Token | None:
    """Celery task_prerun: a task is a scope of its own."""
    if not replica_aliases():
        return None
    return _scope.set(ReadScope())


def task_scope_exit(token: contextvars.Token | None) -> None:
    if token is None:
        return
    scope = _scope.get()
    _scope.reset(token)
    replica_failures_note()
    for tenant_id in scope.tenant_ids if scope is not None else ():
        tenant_wrote(tenant_id, force=True)


def _watch_writes(execute, sql, params, many, context):
    if isinstance(sql, str) and sql_writes(sql):
        write_seen()
    return execute(sql, params, many, context)


def _on_connection_created(sender, connection, **kwargs) -> None:
    if connection.alias == PRIMARY and _watch_writes not in connection.execute_wrappers:
        connection.execute_wrappers.append(_watch_writes)


def install() -> None:
    """Watches the primary's statements for writes (from the kernel's AppConfig.ready, only with replicas)."""
    if replica_aliases():
        connection_created.connect(_on_connection_created, dispatch_uid="stratum-replica-write-watch")


# --- opting in -----------------------------------------------------------------------------------

class replica_reads(contextlib.ContextDecorator):  # noqa: N801 - reads as a statement: `with replica_reads():`
    """Reads inside may go to a replica (see the module's rules). Use around a read-only view handler or selector:
    everything evaluated inside — including a lazy queryset serialized inside — is routed; after it, the primary.

    `own_writes_ok=True` is for a job whose only writes so far are its own bookkeeping (a report or export marked
    running) that the reads inside never look at: the scope's own writes then do not send them to the primary (the
    tenant's recent writes and the lag bound still do)."""

    def __init__(self, *, own_writes_ok: bool = False):
        self.mode = _OWN_WRITES_OK if own_writes_ok else _STRICT
        self._token = None

    def _recreate_cm(self):  # as a decorator: a fresh instance per call (threads must not share the token)
        return type(self)(own_writes_ok=self.mode == _OWN_WRITES_OK)

    def __enter__(self):
        self._token = _replica_wanted.set(self.mode)
        return self

    def __exit__(self, *exc):
        _replica_wanted.reset(self._token)
        return False


# --- replica health --------------------------------------------------------------------------------

_lag_lock = threading.Lock()
_lag_checked: dict[str, tuple[float, float | None]] = {}  # alias -> (checked at, lag seconds or None unreachable)


def replica_lag(alias: str) -> float | None:
    """The replay lag of `alias` in seconds (0 when it has replayed everything it received), None when it cannot
    be asked; remembered for REPLICA_LAG_CHECK_SECONDS in this process."""
    now = time.monotonic()
    checked = _lag_checked.get(alias)
    if checked is not None and now - checked[0] < settings.REPLICA_LAG_CHECK_SECONDS:
        return checked[1]
    lag: float | None
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(_LAG_SQL)
            lag = float(cursor.fetchone()[0])
    except Exception:  # noqa: BLE001 - a replica down or restarting is skipped until the next check
        logger.warning("read replica %s unreachable: reads go to the primary", alias, exc_info=True)
        with contextlib.suppress(Exception):
            connections[alias].close()
        lag = None
    with _lag_lock:
        _lag_checked[alias] = (now, lag)
    return lag


def replica_failures_note() -> None:
    """At the end of a request or task: a replica whose connection broke in it — the server went away mid-query, or
    refused a new connection — is taken out of this process at once (as an unreachable lag check would), so the next
    reads go to the primary until the next lag check finds it back. The failed request itself answered 503."""
    for alias in replica_aliases():
        connection = connections[alias]
        raw = connection.connection
        if connection.errors_occurred and (raw is None or raw.closed or getattr(raw, "broken", False)):
            logger.warning("read replica %s failed: reads go to the primary until it answers a lag check", alias)
            with _lag_lock:
                _lag_checked[alias] = (time.monotonic(), None)


def replica_usable(alias: str) -> bool:
    lag = replica_lag(alias)
    return lag is not None and lag <= settings.REPLICA_MAX_LAG_SECONDS


def read_target() -> tuple[str, str]:
    """(alias, reason) for a read in the current context."""
    aliases = replica_aliases()
    wanted = _replica_wanted.get()
    if not aliases or wanted == _NOT_WANTED:
        return PRIMARY, "not_opted_in"
    scope = _scope.get()
    if scope is not None and scope.wrote and wanted != _OWN_WRITES_OK:
        return PRIMARY, "scope_wrote"
    if connections[PRIMARY].in_atomic_block:
        return PRIMARY, "in_transaction"
    tenant = current_tenant()
    if tenant is not None and tenant.pk is not None:
        tenant_id = str(tenant.pk)
        if scope is None:
            sticky = tenant_wrote_recently(tenant_id)
        elif tenant_id in scope.sticky:
            sticky = scope.sticky[tenant_id]
        else:
            sticky = scope.sticky[tenant_id] = tenant_wrote_recently(tenant_id)
        if sticky:
            return PRIMARY, "tenant_wrote"
    usable = [alias for alias in aliases if replica_usable(alias)]
    if not usable:
        return PRIMARY, "replica_lagging"
    return random.choice(usable), "replica"


def read_alias() -> str:
    """The database alias for a read here (counted in stratum_db_reads_routed_total when opted in)."""
    if not replica_aliases():
        return PRIMARY
    from . import metrics

    alias, reason = read_target()
    if reason != "not_opted_in":
        metrics.DB_READS_ROUTED.labels(target="primary" if alias == PRIMARY else "replica", reason=reason).inc()
    return alias


def read_connection():
    """The connection for a hand-written read query (`with read_connection().cursor() as cursor:`): the one the
    router would pick for an ORM read — a replica inside `replica_reads()` when the rules allow, else the primary."""
    return connections[read_alias()]


class ReplicaRouter:
    """DATABASE_ROUTERS entry: writes and migrations on the primary, opted-in reads per `read_target()`."""

    def db_for_read(self, model, **hints):
        if not replica_aliases():
            return None
        return read_alias()

    def db_for_write(self, model, **hints):
        if not replica_aliases():
            return None
        write_seen()
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replicas hold the same rows as the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY
