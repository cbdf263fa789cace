"""Benchmark plumbing: each `benchmarks/bench_*.py` exposes `run() -> list[Row]`.

Benchmarks measure on the configured database (PostgreSQL in `make bench`) inside a throwaway
tenant that is deleted afterwards. Figures are medians of repeated runs, never single timings.
"""
from __future__ import annotations

import os
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    reference: str = ""
    reference_value: float | None = None
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> str:
        if self.reference_value:
            return f"{self.value / self.reference_value:.2f}x"
        return ""


def p50_ms(fn: Callable[[], object], *, repeat: int = 30, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def redis_url() -> str:
    """The Redis a bench's servers use as cache and broker (production-shaped: queued tasks go to a broker, not
    into the request), `REDIS_URL` or the local default."""
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def bench_queue() -> str:
    """A queue of the bench's own, so a worker of another deployment on the same Redis never takes its tasks."""
    return f"bench-{secrets.token_hex(4)}"


def queue_drop(name: str) -> None:
    import redis

    redis.Redis.from_url(redis_url(), socket_timeout=5).delete(name)
