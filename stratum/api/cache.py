"""The shared cache (Redis) for product code, resilient to Redis being down.

While Redis is unreachable, calls go to this process's memory instead: login lock-out counters, run locks and
cached summaries then hold per process — the same documented degraded mode as the rate limiter's — and no request
fails because the cache is down. After a failure Redis is left alone for `RETRY_SECONDS` (one warning per
outage, no connection attempt added to every call), then tried again; `/health` always asks Redis itself.
Use `from stratum.api.cache import cache` where `django.core.cache.cache` would be used.
"""
from __future__ import annotations

import logging
import threading
import time

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

logger = logging.getLogger("stratum.cache")
RETRY_SECONDS = 5.0


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        from django_redis.exceptions import ConnectionInterrupted

        errors.append(ConnectionInterrupted)
    except ImportError:  # pragma: no cover - django-redis is a requirement
        pass
    try:
        import redis.exceptions

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


UNAVAILABLE = _unavailable_errors()


class RedisBreaker:
    """Open for RETRY_SECONDS after a failure: callers skip Redis and use their in-process fallback."""

    def __init__(self):
        self._lock = threading.Lock()
        self._down_until = 0.0

    def allows(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            if time.monotonic() >= self._down_until:
                logger.warning("redis unavailable (%s: %s); this process uses local memory for %.0f s",
                               what, exc, RETRY_SECONDS)
            self._down_until = time.monotonic() + RETRY_SECONDS

    def reset(self) -> None:
        with self._lock:
            self._down_until = 0.0


breaker = RedisBreaker()
_fallback = LocMemCache("stratum-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})


def _is_redis(backend) -> bool:
    return "redis" in type(backend).__module__


class ResilientCache:
    """`django.core.cache.cache`'s interface; falls back to process memory while Redis is unreachable."""

    def __getattr__(self, name: str):
        primary = caches["default"]
        method = getattr(primary, name)
        if not callable(method) or not _is_redis(primary):
            return method

        def call(*args, **kwargs):
            if breaker.allows():
                try:
                    return method(*args, **kwargs)
                except UNAVAILABLE as exc:
                    breaker.failed(f"cache.{name}", exc)
            return getattr(_fallback, name)(*args, **kwargs)

        return call


cache = ResilientCache()


def fallback_reset() -> None:
    """Tests: forget the in-process fallback and close the breaker."""
    breaker.reset()
    _fallback.clear()
