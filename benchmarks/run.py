"""`make bench`: runs every benchmarks/bench_*.py, prints one table, writes docs/benchmarks.md.

`python -m benchmarks.run [name ...]` runs only the named benchmark modules.
"""
from __future__ import annotations

import datetime
import importlib
import os
import pkgutil
import platform
import sys
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stratum.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

import benchmarks  # noqa: E402
from benchmarks.harness import Row  # noqa: E402


def main(selected: list[str]) -> int:
    call_command("migrate", verbosity=0, interactive=False)
    rows: list[Row] = []
    names = [m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")]
    for name in sorted(names):
        if selected and name not in selected and name.removeprefix("bench_") not in selected:
            continue
        print(f"running {name} …", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        rows.extend(module.run())
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    header = "| figure | value | reference (same run) | ratio | target | met |\n|---|---|---|---|---|---|\n"
    lines = []
    for row in rows:
        reference = f"{row.reference}: {row.reference_value:.1f}" if row.reference_value is not None else row.reference
        met = "" if row.met is None else ("yes" if row.met else "NO")
        lines.append(f"| {row.figure} | {row.value:.1f} {row.unit} | {reference} | {row.ratio} | {row.target} | {met} |")
    table = header + "\n".join(lines) + "\n"
    print(table)
    out = Path(settings.BASE_DIR) / "docs" / "benchmarks.md"
    out.parent.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out.write_text(
        "# Benchmarks\n\n"
        f"Produced by `make bench` on {stamp}; database: {engine}; Python {platform.python_version()}; "
        f"{os.cpu_count()} cores.\n\n" + table
    )
    print(f"written to {out}")
    return 0 if all(row.met is not False for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
