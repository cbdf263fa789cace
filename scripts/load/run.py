"""`make load`: a fixed-time load test of the API served as in production, written to docs/load.md.

gunicorn (DEBUG=0, sync workers sized for the machine) on 127.0.0.1 with PostgreSQL (a dedicated database seeded by
`seed_demo`, `stratum_load` by default) and Redis (rate limiter, cache, broker); wrk — another process, on loopback —
drives it with the Lua script beside this file. Phases of LOAD_SECONDS each:

1. the ceiling: a minimal Django JSON view (`/_probe/json`, mounted only with LOAD_PROBE_ENABLED=1) through the same
   gunicorn, settings and middleware — what the framework itself serves on this machine;
2. single endpoints alone, same connections (one per worker), each as a ratio to the ceiling: `GET /users/me` (the
   fixed cost of every authenticated request: DRF, JWT authentication with its one query, the limiter; target
   ≥ 0.30) and the lists `GET /campaigns`, `GET /cdp/profiles` (API key) and `GET /tasks` (targets ≥ 0.15 and
   p99 ≤ 150 ms); the ceiling is measured again after them and the ratios use the mean of its two runs (both are
   printed, with the load average around every phase: the machine may be shared);
3. mixed traffic, every scenario at once from its own wrk process (one connection each): reads (campaigns list and detail, dashboard, CDP
   profiles, Catalyst tasks; JWT or API key) and event ingestion (`/cdp/events/track`, `/cdp/events/batch` of 50).

The demo tenant's rate limit is raised for the run the way staff raise a contract's (`limit_overrides`:
api_requests_per_minute / api_burst): the limiter still takes a token in Redis on every request, so its cost is
measured, but it does not answer 429 to a load that is the point of the test.

Targets per scenario: p99 < 250 ms and no errors (a non-2xx answer or a socket error is an error).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BASE_DIR))
LUA = Path(__file__).resolve().parent / "scenario.lua"
REPORT = BASE_DIR / "docs" / "load.md"
STATE = BASE_DIR / "var" / "load"
P99_TARGET_MS = 250.0
RATE_OVERRIDE = {"api_requests_per_minute": 1_000_000, "api_burst": 100_000}
KEY_NAME = "load test"


@dataclass
class Scenario:
    name: str
    auth: str
    requests: list[dict]
    connections: int = 5
    ratio_target: float | None = None  # throughput as a share of the ceiling's, same run
    p99_target: float = P99_TARGET_MS
    result: dict = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)  # load average (1 min) before and after the phase

    @property
    def throughput(self) -> float:
        return self.result["requests"] / (self.result["duration_us"] / 1e6)

    @property
    def errors(self) -> int:
        e = self.result["errors"]
        return e["connect"] + e["read"] + e["write"] + e["status"] + e["timeout"]

    def ms(self, percentile: str) -> float:
        return self.result["latency_us"][percentile] / 1000


# --- environment -----------------------------------------------------------------------------

def fernet_key() -> str:
    """One key for this load database, kept under var/load: data seeded in one run is readable in the next."""
    STATE.mkdir(parents=True, exist_ok=True)
    path = STATE / "fernet.key"
    if not path.exists():
        from cryptography.fernet import Fernet

        path.write_text(Fernet.generate_key().decode())
    return path.read_text().strip()


def configure(database_url: str) -> dict[str, str]:
    """Settings for this process (seeding, tokens: no broker, tasks run in-process) and the server's environment."""
    common = {"DATABASE_URL": database_url, "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50),
              "FERNET_KEYS": fernet_key(), "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
              "DJANGO_SETTINGS_MODULE": "stratum.settings",
              "SECURE_SSL_REDIRECT": "0"}  # plain HTTP on loopback
    os.environ.update(common)
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "STRATUM_TESTING"):
        os.environ.pop(name, None)
    return common


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- data ------------------------------------------------------------------------------------

def prepare(*, reseed: bool) -> dict:
    """Migrates and seeds the load database when needed; returns a JWT, an API key and ids to request."""
    import django

    from benchmarks.run import database_ensure

    if database_ensure(os.environ["DATABASE_URL"]):
        print(f"created database {urlsplit(os.environ['DATABASE_URL']).path.lstrip('/')}", flush=True)
    django.setup()
    from django.core.management import call_command

    from accounts.management.commands.seed_demo import DEMO_EMAIL, DEMO_SLUG
    from accounts.models import ApiKey, Tenant, User
    from accounts.services import api_key_create, tokens_for_user
    from billing.services import tenant_admin_update
    from campaigns.models import Campaign
    from cdp.models import Profile
    from stratum.api.tenancy import tenant_scope

    call_command("migrate", verbosity=0, interactive=False)
    tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
    if reseed or tenant is None or not Campaign.objects.for_tenant(tenant).exists():
        print("seeding the demo tenant (seed_demo) …", flush=True)
        call_command("seed_demo", verbosity=0)
        tenant = Tenant.objects.get(slug=DEMO_SLUG)
    from django.db import connection

    with connection.cursor() as cursor:  # what autovacuum keeps true in production: statistics and the visibility map
        cursor.execute("VACUUM ANALYZE")  # (index-only counts), after seeding and the previous run's ingestion
    tenant = tenant_admin_update(tenant=tenant, data={"limit_overrides": RATE_OVERRIDE})
    user = User.objects.get(email=DEMO_EMAIL)
    with tenant_scope(tenant):
        ApiKey.objects.filter(name=KEY_NAME).delete()
        _, key = api_key_create(tenant=tenant, created_by=user, name=KEY_NAME,
                                permissions=["read:campaigns", "read:cdp", "write:cdp", "read:workflow"],
                                expires_at=None)
        campaigns = [str(pk) for pk in Campaign.objects.order_by("name").values_list("id", flat=True)[:20]]
        profiles = [str(pk) for pk in Profile.objects.filter(merged_into__isnull=True).order_by("id")
                    .values_list("id", flat=True)[:500]]
    return {"jwt": tokens_for_user(user=user)["access_token"], "key": key, "campaigns": campaigns,
            "profiles": profiles, "tenant": str(tenant.pk)}


def scenarios(data: dict) -> tuple[Scenario, Scenario, list[Scenario]]:
    jwt = {"Authorization": f"Bearer {data['jwt']}"}
    key = {"Authorization": f"Bearer {data['key']}"}
    post = {**key, "Content-Type": "application/json"}
    profiles = data["profiles"]

    def get(path, headers):
        return {"method": "GET", "path": path, "headers": headers}

    def event(n: int) -> dict:
        purchase = n % 5 == 0
        body = {"event_type": "purchase" if purchase else "page_view",
                "properties": {"amount": 20 + n % 80, "currency": "USD"} if purchase else
                {"path": f"/products/{n % 40}", "utm_source": "meta", "channel": "paid_social"}}
        if n % 10 == 3:
            body["identifiers"] = {"email": f"load-{n}@stratum-load.example"}
        else:
            body["profile_id"] = profiles[n % len(profiles)]
        return body

    track = [{"method": "POST", "path": "/api/v1/cdp/events/track", "headers": post, "body": json.dumps(event(n))}
             for n in range(300)]
    batches = [{"method": "POST", "path": "/api/v1/cdp/events/batch", "headers": post,
                "body": json.dumps({"events": [event(b * 50 + n) for n in range(50)]})} for b in range(20)]
    ceiling = Scenario("minimal Django JSON view (the ceiling)", "none", [get("/_probe/json", {})])
    solo = [Scenario("GET /users/me, alone (DRF, JWT, limiter, 1 query)", "JWT", [get("/api/v1/users/me", jwt)],
                     ratio_target=0.30),
            Scenario("GET /campaigns, alone", "JWT", [get("/api/v1/campaigns", jwt)], ratio_target=0.15,
                     p99_target=150.0),
            Scenario("GET /cdp/profiles (pages 1–5), alone", "API key",
                     [get(f"/api/v1/cdp/profiles?page={p}&limit=20", key) for p in range(1, 6)], ratio_target=0.15,
                     p99_target=150.0),
            Scenario("GET /tasks (Catalyst), alone", "JWT", [get("/api/v1/tasks", jwt)], ratio_target=0.15,
                     p99_target=150.0)]
    mixed = [
        Scenario("GET /campaigns", "JWT", [get("/api/v1/campaigns", jwt)]),
        Scenario("GET /campaigns/{id}", "JWT", [get(f"/api/v1/campaigns/{pk}", jwt) for pk in data["campaigns"]]),
        Scenario("GET /dashboard/overview", "JWT", [get("/api/v1/dashboard/overview", jwt)]),
        Scenario("GET /cdp/profiles (pages 1–5)", "API key",
                 [get(f"/api/v1/cdp/profiles?page={p}&limit=20", key) for p in range(1, 6)]),
        Scenario("GET /tasks (Catalyst)", "JWT", [get("/api/v1/tasks", jwt)]),
        Scenario("POST /cdp/events/track", "API key", track),
        Scenario("POST /cdp/events/batch (50 events)", "API key", batches),
    ]
    for scenario in mixed:  # one connection each: seven at once, about what the workers serve in parallel
        scenario.connections = 1
    return ceiling, solo, mixed


# --- server and load generator ----------------------------------------------------------------

def start_gunicorn(env: dict[str, str], *, port: int, workers: int, log: Path) -> subprocess.Popen:
    import httpx

    gunicorn = Path(sys.executable).with_name("gunicorn")
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(gunicorn), "stratum.wsgi:application", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
             "--timeout", "60", "--log-level", "warning"], cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    deadline = time.time() + 180  # a busy machine imports Django into every worker slowly
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_probe/json", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit(f"gunicorn did not come up; see {log}")


def lua_table(requests: list[dict]) -> str:
    def quote(value: str) -> str:
        return json.dumps(value)  # a JSON string literal is a valid Lua string literal here (no \u escapes used)

    rows = []
    for r in requests:
        headers = ", ".join(f"[{quote(k)}] = {quote(v)}" for k, v in r["headers"].items())
        body = f", body = {quote(r['body'])}" if r.get("body") else ""
        rows.append(f"  {{method = {quote(r['method'])}, path = {quote(r['path'])}, headers = {{{headers}}}{body}}}")
    return "return {\n" + ",\n".join(rows) + "\n}\n"


def run_wrk(group: list[Scenario], *, url: str, seconds: int, workdir: Path) -> None:
    """All scenarios of the group at once, each from its own wrk process (its own latency histogram)."""
    running = []
    for n, scenario in enumerate(group):
        spec = workdir / f"scenario-{n}.lua"
        spec.write_text(lua_table(scenario.requests))
        result = workdir / f"result-{n}.json"
        result.unlink(missing_ok=True)
        env = {**os.environ, "WRK_RESULT": str(result)}
        process = subprocess.Popen(
            ["wrk", "-t1", f"-c{scenario.connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), url,
             "--", str(spec)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        running.append((scenario, process, result))
    for scenario, process, result in running:
        _, stderr = process.communicate(timeout=seconds + 60)
        if process.returncode != 0 or not result.exists():
            raise SystemExit(f"wrk failed for {scenario.name}: {stderr.strip()[:500]}")
        scenario.result = json.loads(result.read_text())


def broker_backlog(redis_url: str) -> int:
    """Task messages the run queued (no worker consumes them during the test); removed afterwards."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    backlog = client.llen("celery")
    client.delete("celery")
    return backlog


# --- report ----------------------------------------------------------------------------------

def row(s: Scenario, *, ratio_to: float | None = None) -> tuple[str, list[str]]:
    statuses = ", ".join(f"{k}×{v}" for k, v in sorted(s.result["statuses"].items()) if not k.startswith("2"))
    error_rate = s.errors / max(1, s.result["requests"])
    checks = [s.ms("p99") <= s.p99_target, s.errors == 0]
    target = f"p99 ≤ {s.p99_target:.0f} ms, 0 errors"
    ratio = f"{s.throughput / ratio_to:.2f}" if ratio_to else ""
    failures = []
    if ratio_to and s.ratio_target:
        checks.append(s.throughput / ratio_to >= s.ratio_target)
        target = f"ratio ≥ {s.ratio_target:.2f}, " + target
        if s.throughput / ratio_to < s.ratio_target:
            failures.append(f"ratio {s.throughput / ratio_to:.2f}")
    if s.ms("p99") > s.p99_target:
        failures.append(f"p99 {s.ms('p99'):.0f} ms")
    if s.errors:
        failures.append(f"{s.errors} errors ({statuses or 'socket errors'})")
    line = (f"| {s.name} | {s.auth} | {s.connections} | {s.result['requests']:,} | {s.throughput:,.0f} | "
            f"{s.ms('p50'):.1f} | {s.ms('p95'):.1f} | {s.ms('p99'):.1f} | {s.errors} ({error_rate:.2%}) | {ratio} | "
            f"{s.load[0]:.1f} → {s.load[1]:.1f} | {target} | {'yes' if all(checks) else '**NO**'} |")
    return line, ([f"{s.name}: " + ", ".join(failures)] if failures else [])


def report(*, ceiling, ceiling_again, solo, mixed, seconds, workers, load_before, load_after, backlog,
           database) -> str:
    header = ("| scenario | auth | connections | requests | req/s | p50 ms | p95 ms | p99 ms | errors (rate) | "
              "ratio to ceiling | load avg before → after | target | met |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    unmet: list[str] = []
    lines = []
    reference = (ceiling.throughput + ceiling_again.throughput) / 2
    ceiling_again.name = "the ceiling again, after the single endpoints"
    for scenario, ratio_to in ((ceiling, None), *((s, reference) for s in solo), (ceiling_again, None)):
        line, misses = row(scenario, ratio_to=ratio_to)
        lines.append(line)
        unmet += misses
    mixed_lines = []
    for scenario in mixed:
        line, misses = row(scenario)
        mixed_lines.append(line)
        unmet += [f"(mixed) {m}" for m in misses]
    total = sum(s.result["requests"] for s in mixed)
    events = sum(s.result["statuses"].get("200", 0) * 50 for s in mixed if "batch" in s.name) + \
        sum(s.result["statuses"].get("201", 0) for s in mixed if "track" in s.name)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = [
        "# Load test", "",
        f"Produced by `make load` on {stamp}: gunicorn with {workers} sync workers (DEBUG=0) on 127.0.0.1, PostgreSQL "
        f"(`{database}`, the `seed_demo` data, vacuumed and analysed first) and Redis (rate limiter, cache, broker); wrk from separate processes on "
        f"loopback; {seconds} s per phase after a warm-up; {os.cpu_count()} cores shared by everything; load average "
        f"{load_before:.1f} before, {load_after:.1f} after. Latencies are wrk's (from sending a request to its last "
        "byte, queueing in the server's backlog included).", "",
        "## 1–2. The ceiling, then single endpoints alone (same gunicorn, same connections: one per worker)", "",
        f"Ratios are to the mean of the ceiling's two runs ({reference:,.0f} req/s), before and after the single "
        "endpoints.", "",
        header, *lines, "",
        f"## 3. Mixed traffic, every scenario at once ({total:,} requests; {events:,} events ingested)", "",
        header, *mixed_lines, "",
        "The demo tenant's rate limit is raised for the run the way staff raise a contract's "
        f"(`limit_overrides` {json.dumps(RATE_OVERRIDE)}); the limiter still takes its token in Redis on every API "
        "request. The ceiling view is served only when LOAD_PROBE_ENABLED=1 and is no part of the API.", "",
        f"Task messages the run queued for a worker (none runs during the test; removed afterwards): {backlog}.", "",
    ]
    text.append("Unmet targets:" if unmet else "Every target was met in this run.")
    text += [f"- {u}" for u in unmet]
    return "\n".join(text) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("LOAD_SECONDS", 30)))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("LOAD_WORKERS", 2 * (os.cpu_count() or 1) + 1)))
    parser.add_argument("--database-url", default=os.environ.get(
        "LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stratum_load"))
    parser.add_argument("--redis-url", default=os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--reseed", action="store_true", help="run seed_demo even when the demo data exists")
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk; `make load` does it)")

    common = configure(args.database_url)
    data = prepare(reseed=args.reseed)
    server_env = {**{k: v for k, v in os.environ.items() if k != "STRATUM_TESTING"}, **common,
                  "REDIS_URL": args.redis_url, "CELERY_BROKER_URL": args.redis_url, "LOAD_PROBE_ENABLED": "1",
                  "DB_CONN_MAX_AGE": "600"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="stratum-load-"))
    log = STATE / "gunicorn.log"
    ceiling, solo, mixed = scenarios(data)
    for scenario in (ceiling, *solo):
        scenario.connections = args.workers
    server = start_gunicorn(server_env, port=port, workers=args.workers, log=log)
    try:
        print(f"gunicorn ({args.workers} workers) on {url}; warming up …", flush=True)
        run_wrk([Scenario(s.name, s.auth, s.requests, 1) for s in mixed], url=url, seconds=5, workdir=workdir)
        load_before = os.getloadavg()[0]
        ceiling_again = Scenario(ceiling.name, ceiling.auth, ceiling.requests, ceiling.connections)
        phases = [("the ceiling", [ceiling]), *((s.name, [s]) for s in solo), ("the ceiling again", [ceiling_again]),
                  ("mixed traffic", mixed)]
        for label, group in phases:
            print(f"{label}: {args.seconds} s …", flush=True)
            before = os.getloadavg()[0]
            run_wrk(group, url=url, seconds=args.seconds, workdir=workdir)
            for scenario in group:
                scenario.load = (before, os.getloadavg()[0])
        load_after = os.getloadavg()[0]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)
    backlog = broker_backlog(args.redis_url)
    text = report(ceiling=ceiling, ceiling_again=ceiling_again, solo=solo, mixed=mixed, seconds=args.seconds, workers=args.workers,
                  load_before=load_before, load_after=load_after, backlog=backlog,
                  database=urlsplit(args.database_url).path.lstrip("/"))
    print()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
