"""The docs stay true to the code: every setting the settings read, every metric /metrics serves and each health
endpoint are named in the README's operations section (under 300 lines) and described in docs/operations.md; every
kernel module has its line in docs/architecture.md."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import settings
from prometheus_client import Counter, Histogram

from stratum.api import metrics

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()
ENV_READERS = {"env", "env_bool", "env_int", "env_float", "env_list", "env_proxy_ssl_header"}


def settings_variables() -> set[str]:
    """Every environment variable stratum/settings.py reads (its env helpers' first argument)."""
    tree = ast.parse((ROOT / "stratum" / "settings.py").read_text())
    names = {node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ENV_READERS
             and node.args and isinstance(node.args[0], ast.Constant)}
    names |= {f"STRIPE_PRICE_{key.upper()}" for key in settings.STRIPE_PRICES}  # read by an f-string per plan
    return names


def metric_names() -> set[str]:
    names = {f"{value._name}_total" if isinstance(value, Counter) else value._name
             for value in vars(metrics).values() if isinstance(value, Counter | Histogram)}
    names |= set(re.findall(r'GaugeMetricFamily\("(\w+)"', Path(metrics.__file__).read_text()))
    return names


def readme_operations() -> str:
    start = README.index("## Operations and configuration")
    return README[start:README.index("\n## ", start + 1)]


def test_the_readme_stays_under_300_lines():
    assert len(README.splitlines()) < 300


def test_every_setting_is_listed_in_the_readme_and_described_in_operations():
    variables = settings_variables()
    assert len(variables) > 90 and {"METRICS_TOKEN", "STORAGE_BACKEND", "STRIPE_PRICE_STARTER_MONTHLY"} <= variables
    section = readme_operations()
    assert sorted(v for v in variables if f"`{v}`" not in section) == []
    described = set(re.findall(r"^\| (.+?) \|", OPERATIONS[OPERATIONS.index("## Settings"):], flags=re.M))
    in_table = {name for row in described for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}
    assert sorted(variables - in_table) == []


def test_every_metric_is_named_in_the_readme_and_described_in_operations():
    names = metric_names()
    assert {"stratum_webhook_delivery_attempts_total", "stratum_beat_lag_seconds",
            "stratum_segment_refresh_seconds"} <= names
    section = readme_operations()
    assert sorted(name for name in names if f"`{name}`" not in section) == []
    assert sorted(name for name in names if f"| `{name}` |" not in OPERATIONS) == []


def test_the_readme_says_what_each_health_endpoint_checks():
    section = readme_operations()
    for endpoint, checks in {"/health": ["database", "Redis"], "/health/live": ["process"],
                             "/health/ready": ["database", "cache", "broker", "migration"]}.items():
        row = next(line for line in section.splitlines() if line.startswith(f"| `{endpoint}`"))
        assert all(check in row for check in checks), row


def test_every_kernel_module_is_in_the_architecture_map():
    table = ARCHITECTURE[ARCHITECTURE.index("## The kernel's modules"):]
    table = table[:table.index("\n## ")]
    named = set(re.findall(r"`([a-z_/]+)`", table))
    modules = {path.stem for path in (ROOT / "stratum" / "api").glob("*.py")} - {"__init__", "apps"}
    assert sorted(modules - named) == []
