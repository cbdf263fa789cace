"""Private services for the fault tests: a redis-server, a PostgreSQL cluster, gunicorn and Celery workers on
spare loopback ports, each started, stopped and removed by the tests themselves. The machine's shared
PostgreSQL (5432) and Redis (6379) are never stopped; nothing here sends traffic beyond 127.0.0.1."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

BASE_DIR = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Polls until `predicate()` is truthy and returns it; fails the test with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - a service that is not up yet raises; keep polling
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def service_env(**overrides: str) -> dict[str, str]:
    """The environment of a production-shaped subprocess: the test run's environment without the test switch
    (which makes Celery eager and hashing cheap), DEBUG off, the test process's Fernet keys (so secrets it
    encrypted can be read), a throwaway SECRET_KEY. Clients authenticate with API keys or a real login."""
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if k not in ("STRATUM_TESTING", "PYTEST_CURRENT_TEST")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "stratum.settings", "DEBUG": "0", "ENVIRONMENT": "fault-test",
        "SECRET_KEY": "fault-suite-" + os.urandom(24).hex(), "FERNET_KEYS": ",".join(settings.FERNET_KEYS),
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING", "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "PYTHONUNBUFFERED": "1",
        # Plain HTTP on loopback: no redirect to HTTPS; the other DEBUG=0 defaults (HSTS, secure cookies) stay on.
        "SECURE_SSL_REDIRECT": "0",
    })
    env.update(overrides)
    return env


def subprocess_database_url() -> str:
    """The configured DATABASE_URL pointed at the test database: subprocesses must see committed rows."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if not name.startswith("test_"):  # asked before a database test switched the connection over
        name = connection.creation._get_test_db_name()
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + name))


# --- Redis -----------------------------------------------------------------------------------

class PrivateRedis:
    binary = shutil.which("redis-server")

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="stratum-fault-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.client().ping(), timeout=15, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        """SIGTERM: Redis closes its clients and exits (nothing to save)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- PostgreSQL ------------------------------------------------------------------------------

def postgres_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return candidates[-1].parent if candidates else None


def postgres_unavailable_reason() -> str | None:
    bindir = postgres_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user to own a private cluster"
        if shutil.which("runuser") is None:
            return "running as root without runuser to start a private cluster as postgres"
    return None


class PrivatePostgres:
    """A throwaway cluster (initdb) on a spare port, trust auth on 127.0.0.1, durability off (a test cluster)."""

    def __init__(self, *, settings: dict[str, str] | None = None):
        self.bindir = postgres_bindir()
        self.settings = dict(settings or {})  # extra `-c name=value` server settings, kept across restarts
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="stratum-fault-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.as_owner: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.root, user="postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.running = False

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run([*self.as_owner, *args], check=True, timeout=timeout, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale", "C")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=40")
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "30", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """`fast`: disconnects every client and shuts down cleanly (what a restart by an operator does)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")
        self.running = False

    def copy_schema(self, *, source_url: str, database: str) -> None:
        """Creates `database` with the schema of `source_url` (the migrated test database): faster than
        running every migration again."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        dump = subprocess.run([str(self.bindir / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
                               "-d", source_url], check=True, capture_output=True, timeout=120)
        subprocess.run([str(self.bindir / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url(database)],
                       input=dump.stdout, check=True, capture_output=True, timeout=120)

    def query(self, sql: str, params: tuple = (), *, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def statements(self, *needles: str) -> int:
        """Statements in the server log (log_statement=all) that contain every needle: which server ran what."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return sum(1 for line in text.splitlines() if "statement: " in line and all(n in line for n in needles))

    def close(self) -> None:
        if self.running:
            try:
                self.stop("immediate")
            except Exception:  # noqa: BLE001 - tear down as much as we can
                pass
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateReplica(PrivatePostgres):
    """A hot-standby streaming replica of a PrivatePostgres on its own port: `pg_basebackup -R` copies the primary
    and writes its primary_conninfo; WAL then streams continuously."""

    def __init__(self, primary: PrivatePostgres, *, settings: dict[str, str] | None = None):
        super().__init__(settings=settings)
        self.primary = primary

    def init(self) -> None:
        self._run(str(self.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port), "-U",
                  "postgres", "-D", str(self.data), "-R", "-X", "stream", "-c", "fast", "--no-sync", timeout=180)

    def caught_up(self) -> bool:
        """Whether everything the primary has written so far is replayed here."""
        (lsn,), = self.primary.query("SELECT pg_current_wal_lsn()::text")
        (done,), = self.query("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))
        return bool(done)

    def replay_pause(self) -> None:
        self.query("SELECT pg_wal_replay_pause()")

    def replay_resume(self) -> None:
        self.query("SELECT pg_wal_replay_resume()")


# --- PgBouncer ---------------------------------------------------------------------------------

def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if os.path.exists(p)), None)


class PgBouncer:
    """A private PgBouncer (Debian's package) in transaction pooling mode on a spare loopback port, in front of the
    machine's PostgreSQL, with fewer server connections than clients: every transaction may land on another server
    connection, so anything that outlives a transaction breaks. Run as the `postgres` user when started as root
    (PgBouncer refuses root)."""

    def __init__(self, *, upstream_url: str, pool_size: int = 2):
        parts = urlsplit(upstream_url)
        self.user = parts.username or "postgres"
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = free_port()
        self.pool_size = pool_size
        self.dir = Path(tempfile.mkdtemp(prefix="stratum-pgbouncer-"))
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        host, port = self.upstream
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(f"""[databases]
* = host={host} port={port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir = {self.dir}
auth_type = trust
auth_file = {self.dir / "users.txt"}
admin_users = {self.user}
pool_mode = transaction
default_pool_size = {self.pool_size}
max_client_conn = 500
ignore_startup_parameters = extra_float_digits,options
logfile = {self.dir / "pgbouncer.log"}
pidfile = {self.dir / "pgbouncer.pid"}
""")
        argv = [pgbouncer_binary(), str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            for path in self.dir.iterdir():
                shutil.chown(path, "postgres")
            argv[1:1] = ["-u", "postgres"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_for(lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close() or True,
                 timeout=20, what=f"pgbouncer on port {self.port}")

    def show(self, what: str) -> list[dict]:
        """`SHOW <what>` on PgBouncer's admin console, as dicts (STATS, POOLS, SERVERS …)."""
        import psycopg

        with psycopg.connect(self.url("pgbouncer"), autocommit=True) as conn:
            cursor = conn.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- RabbitMQ --------------------------------------------------------------------------------

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def rabbitmq_unavailable_reason() -> str | None:
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        return "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("rabbitmq")
        except KeyError:
            return "running as root without the rabbitmq user to run a private node"
    return None


class PrivateRabbitMQ:
    """A RabbitMQ node of its own (Debian's package) on spare loopback ports, with its own data directory: it can be
    killed and restarted without touching the machine's broker. Started as the `rabbitmq` user when run as root."""

    def __init__(self):
        self.port, self.dist_port = free_port(), free_port()
        self.node = f"stratum{self.port}@localhost"
        self.dir = Path(tempfile.mkdtemp(prefix="stratum-rabbitmq-"))
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        self.as_owner: list[str] = []
        self.home = str(self.dir)
        if os.geteuid() == 0:
            for path in (self.dir, *self.dir.iterdir()):
                shutil.chown(path, "rabbitmq")
            self.as_owner = ["runuser", "-u", "rabbitmq", "--"]
            self.home = "/var/lib/rabbitmq"  # its Erlang cookie, which rabbitmqctl must share
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> list[str]:
        return ["env", f"HOME={self.home}", f"RABBITMQ_NODENAME={self.node}", f"RABBITMQ_NODE_PORT={self.port}",
                f"RABBITMQ_DIST_PORT={self.dist_port}", f"RABBITMQ_MNESIA_BASE={self.dir / 'mnesia'}",
                f"RABBITMQ_LOG_BASE={self.dir / 'log'}", f"RABBITMQ_CONFIG_FILE={self.dir / 'rabbitmq.conf'}",
                f"RABBITMQ_ENABLED_PLUGINS_FILE={self.dir / 'enabled_plugins'}"]

    def start(self) -> None:
        with open(self.dir / "server.log", "ab") as log:
            self.process = subprocess.Popen([*self.as_owner, *self._env(), str(RABBITMQ_BIN / "rabbitmq-server")],
                                            cwd=self.dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.ready, timeout=120, what=f"rabbitmq node {self.node} on port {self.port}")

    def ready(self) -> bool:
        from kombu import Connection

        with Connection(self.url, connect_timeout=2) as conn:
            conn.connect()
            return True

    def queue_depth(self, name: str) -> int:
        from kombu import Connection

        with Connection(self.url, connect_timeout=2) as conn:
            return conn.default_channel.queue_declare(queue=name, passive=True).message_count

    def kill(self) -> None:
        """SIGKILL to the whole node (a crashed broker host: nothing is flushed on the way out)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(15)
        self.process = None
        wait_for(lambda: not _listening(self.port), timeout=15, what="the killed node's port to close")

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


# --- the application: gunicorn and Celery workers --------------------------------------------

class Process:
    """A subprocess with its output in a log file (printed when a test fails through `tail()`)."""

    def __init__(self, name: str):
        self.name = name
        self.log_path = Path(tempfile.mkstemp(prefix=f"stratum-fault-{name}-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def spawn(self, argv: list[str], env: dict[str, str]) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, chars: int = 3000) -> str:
        return self.output()[-chars:]

    def children(self) -> list[int]:
        """Direct child processes (gunicorn's workers, Celery's prefork pool)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill_group(self) -> None:
        """SIGKILL to the process and every child (a machine losing the worker: nothing runs its cleanup)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def close(self) -> None:
        """Stops it for good: SIGKILL to the group (a test has nothing to flush), then removes the log."""
        if self.alive():
            self.kill_group()
        self.log_path.unlink(missing_ok=True)


class AppServer(Process):
    def __init__(self, *, env: dict[str, str], workers: int = 1):
        super().__init__("gunicorn")
        self.port = free_port()
        self.env = env
        self.workers = workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.spawn([str(VENV_BIN / "gunicorn"), "stratum.wsgi:application", "-w", str(self.workers), "-b",
                    f"127.0.0.1:{self.port}", "--timeout", "60", "--graceful-timeout", "5", "--log-level",
                    "warning"], self.env)
        wait_for(lambda: httpx.get(f"{self.url}/health", timeout=5).status_code in (200, 503), timeout=60,
                 what=f"gunicorn on port {self.port}")


class CeleryWorker(Process):
    def __init__(self, *, env: dict[str, str], pool: str = "prefork", name: str = "worker"):
        super().__init__(f"celery-{name}")
        self.env = env
        self.pool = pool
        self.node = f"{name}-{os.getpid()}-{free_port()}@fault"

    def start(self) -> None:
        self.spawn([str(VENV_BIN / "celery"), "-A", "stratum", "worker", "--pool", self.pool, "--concurrency", "1",
                    "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel", "INFO",
                    "-n", self.node], self.env)
        wait_for(lambda: " ready." in self.output(), timeout=60, what=f"celery worker {self.node}")


def producer(broker_url: str):
    """A Celery client that sends task messages to the private broker by name (the test process's own Celery app
    runs tasks eagerly)."""
    from celery import Celery

    app = Celery("fault-producer", broker=broker_url, set_as_current=False)  # shared tasks stay on stratum's app
    app.conf.broker_connection_retry_on_startup = True
    app.conf.task_serializer = "json"
    return app
