"""`make bench`: runs every benchmarks/bench_*.py on PostgreSQL, prints one table, writes docs/benchmarks.md.

`python -m benchmarks.run [name ...]` runs only the named modules (`cdp` or `bench_cdp`). A partial run never
touches the full report: it prints its table and writes `var/bench/partial-<names>.md`. A module that crashes
is reported as an error row and the others still run; the exit code is then 1. Unmet targets do not fail the
run — they are listed under the table (the README names each with its cause).

The database of DATABASE_URL is created when it does not exist yet (then migrated), so `make bench` works from
a clean checkout with nothing but a PostgreSQL server.
"""
from __future__ import annotations

import datetime
import importlib
import os
import pkgutil
import platform
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import unquote, urlsplit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stratum.settings")

BASE_DIR = Path(__file__).resolve().parent.parent
REPORT = BASE_DIR / "docs" / "benchmarks.md"
PARTIAL_DIR = BASE_DIR / "var" / "bench"
HEADER = ("| benchmark | figure | value | reference (same run) | ratio | target | met |\n"
          "|---|---|---|---|---|---|---|\n")


def database_ensure(url: str) -> bool:
    """CREATE DATABASE for a postgres:// URL whose database is missing; True when it was created."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return False
    import psycopg
    from psycopg import sql

    name = unquote(parts.path.lstrip("/"))
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def module_names(selected: list[str]) -> list[str]:
    import benchmarks

    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    if not selected:
        return names
    wanted = {s if s.startswith("bench_") else f"bench_{s}" for s in selected}
    unknown = sorted(wanted - set(names))
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; known: "
                         f"{', '.join(n.removeprefix('bench_') for n in names)}")
    return [n for n in names if n in wanted]


def format_row(module: str, row) -> str:
    reference = f"{row.reference}: {row.reference_value:.1f}" if row.reference_value is not None else row.reference
    met = "" if row.met is None else ("yes" if row.met else "**NO**")
    return (f"| {module} | {row.figure} | {row.value:.1f} {row.unit} | {reference} | {row.ratio} | {row.target} "
            f"| {met} |")


def render(results: list[tuple[str, list, float, str | None]], *, context: str, selected: list[str]) -> str:
    lines, unmet, errors = [], [], []
    for module, rows, _elapsed, error in results:
        name = module.removeprefix("bench_")
        for row in rows:
            lines.append(format_row(name, row))
            if row.met is False:
                unmet.append(f"- {name}: {row.figure} — {row.value:.1f} {row.unit}, target {row.target}")
        if error is not None:
            lines.append(f"| {name} | **the benchmark failed**: {error} |  |  |  |  | **NO** |")
            errors.append(f"- {name}: {error}")
    text = [context, "", HEADER + "\n".join(lines), ""]
    timings = ", ".join(f"{m.removeprefix('bench_')} {elapsed:.0f} s" for m, _, elapsed, _ in results)
    text.append(f"Wall time per benchmark (data set built, measured, dropped): {timings}.")
    text.append("")
    text.append("Unmet targets:" if unmet else "Every target with a figure was met in this run.")
    text += unmet
    if errors:
        text += ["", "Benchmarks that failed (see the run's output for the traceback):", *errors]
    if selected:
        text += ["", f"Partial run ({', '.join(selected)}): the full report is docs/benchmarks.md."]
    return "\n".join(text) + "\n"


def main(argv: list[str]) -> int:
    selected = [a for a in argv if not a.startswith("-")]
    url = os.environ.get("DATABASE_URL", "")
    if database_ensure(url):
        print(f"created database {urlsplit(url).path.lstrip('/')}", flush=True)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    names = module_names(selected)
    call_command("migrate", verbosity=0, interactive=False)
    if connection.vendor != "postgresql":
        print("warning: benchmarks are meant for PostgreSQL (DATABASE_URL=postgres://…); some skip themselves")
    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.UTC)
    results = []
    for name in names:
        print(f"running {name} …", flush=True)
        begin = time.perf_counter()
        rows, error = [], None
        try:
            rows = importlib.import_module(f"benchmarks.{name}").run()
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
            traceback.print_exc()
            error = f"{type(exc).__name__}: {exc}".replace("|", "/").replace("\n", " ")[:300]
        results.append((name, rows, time.perf_counter() - begin, error))
    load_after = os.getloadavg()
    server = ""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = f" {cursor.fetchone()[0]}"
    context = (
        f"# Benchmarks\n\nProduced by `make bench{' BENCH=' + ','.join(selected) if selected else ''}` on "
        f"{started:%Y-%m-%d %H:%M} UTC; database: {connection.vendor}{server}; Python {platform.python_version()}; "
        f"{os.cpu_count()} cores; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (the other "
        "processes on the machine share its cores: figures taken on a busy machine are pessimistic).\n\n"
        "Each row is one figure; `reference` is a baseline measured in the same run on the same data (hand-written "
        "SQL, a raw COPY, a reference library), `ratio` = value / reference. Figures are medians of repeated runs "
        "unless the row says otherwise.")
    report = render(results, context=context, selected=selected)
    print()
    print(report)
    if selected:
        PARTIAL_DIR.mkdir(parents=True, exist_ok=True)
        out = PARTIAL_DIR / f"partial-{'-'.join(n.removeprefix('bench_') for n in names)}.md"
    else:
        out = REPORT
        out.parent.mkdir(exist_ok=True)
    out.write_text(report)
    print(f"written to {out.relative_to(BASE_DIR)}")
    return 1 if any(error for *_, error in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
