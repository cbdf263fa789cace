"""The hostile-input suite's scoreboard: every attack is counted by category and the run ends with one line,

    security: 12 categories, 2,431 attacks, 0 findings (jwt 61, api_key 17, …)

A test attacks through the `hostile` fixture: `hostile.expect(category, label, ok, detail)` counts one attack and,
when `ok` is false, records a finding (the defence did not hold). A test with findings fails after its body ran,
listing every finding, so one run reports all weaknesses of a kind instead of stopping at the first. A security
test that fails in any other way (an exception, a plain assert) counts as one finding of its category too.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

import httpx
import pytest
import respx

CATEGORIES = (
    "jwt", "api_key", "scope", "mass_assignment", "injection", "oversize", "segment_bounds", "csv_injection",
    "ssrf", "path_traversal", "brute_force", "cross_tenant", "proxy", "deployment", "webhook_dos", "enumeration",
    "tokens",
)


class Scoreboard:
    def __init__(self):
        self.attacks: Counter[str] = Counter()
        self.findings: dict[str, list[str]] = defaultdict(list)

    @property
    def total_findings(self) -> int:
        return sum(len(items) for items in self.findings.values())

    def line(self) -> str:
        ran = [c for c in CATEGORIES if self.attacks[c]] + sorted(set(self.attacks) - set(CATEGORIES))
        per_category = ", ".join(f"{c} {self.attacks[c]:,}" + (f"/{len(self.findings[c])} found" if self.findings[c]
                                                               else "") for c in ran)
        return (f"security: {len(ran)} categories, {sum(self.attacks.values()):,} attacks, "
                f"{self.total_findings} findings ({per_category})")


BOARD = Scoreboard()


class Hostile:
    """One test's attack recorder."""

    def __init__(self, board: Scoreboard, category: str):
        self.board = board
        self.category = category  # the test's main category (failures outside expect() are counted there)
        self.findings: list[str] = []

    def expect(self, category: str, label: str, ok: bool, detail: object = "") -> bool:
        if category not in CATEGORIES:
            raise ValueError(f"unknown attack category {category!r}")
        self.board.attacks[category] += 1
        if not ok:
            text = f"[{category}] {label}" + (f": {str(detail)[:300]}" if detail != "" else "")
            self.findings.append(text)
            self.board.findings[category].append(text)
        return bool(ok)

    def count(self, category: str, n: int = 1) -> None:
        """Attacks whose verdict another assertion makes (e.g. the isolation walker's own leak check)."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown attack category {category!r}")
        self.board.attacks[category] += n


def pytest_configure(config):
    config.addinivalue_line("markers", "attack(category): the hostile-input category a security test attacks")


def _category_of(item) -> str:
    marker = item.get_closest_marker("attack")
    if marker and marker.args:
        return marker.args[0]
    return "unknown"


@pytest.fixture
def hostile(request) -> Hostile:
    recorder = Hostile(BOARD, _category_of(request.node))
    request.node._hostile = recorder
    return recorder


class Network:
    """Outbound HTTP during the suite: nothing leaves the machine. A test answers the hosts it chooses (`on`);
    every request is recorded, so a test can show that a refused target was never contacted."""

    def __init__(self):
        self.handlers: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, host: str, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handlers[host] = handler

    def hosts(self) -> set[str]:
        return {r.url.host for r in self.requests}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handler = self.handlers.get(request.url.host)
        if handler is None:
            raise httpx.ConnectError(f"network disabled in the security suite ({request.url.host})", request=request)
        return handler(request)


@pytest.fixture(autouse=True)
def network():
    recorder = Network()
    with respx.mock(assert_all_called=False) as router:
        router.route().mock(side_effect=recorder)
        yield recorder


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/security/" in item.nodeid.replace("\\", "/") and item.get_closest_marker("attack") is None:
            raise pytest.UsageError(f"{item.nodeid}: security tests declare @pytest.mark.attack(<category>)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    recorder = getattr(item, "_hostile", None)
    if recorder is not None and recorder.findings:
        raise AssertionError(f"{len(recorder.findings)} finding(s):\n" + "\n".join(recorder.findings))
    return result


def pytest_runtest_logreport(report):
    if report.failed and "tests/security/" in report.nodeid.replace("\\", "/"):
        # A failure that expect() did not record (an exception, a plain assert) is a finding too.
        if "finding(s):" not in str(report.longrepr):
            category = getattr(report, "attack_category", "unknown")
            BOARD.findings[category].append(f"{report.nodeid} ({report.when}) failed")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.attack_category = _category_of(item)
    return report


def pytest_terminal_summary(terminalreporter):
    if not BOARD.attacks and not BOARD.findings:
        return
    terminalreporter.write_line(BOARD.line())
    for _category, items in BOARD.findings.items():
        for text in items[:50]:
            terminalreporter.write_line(f"  finding {text}")
