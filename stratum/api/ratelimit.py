"""Per-tier rate limiting: the tier's requests per minute, and its burst, atomic in Redis.

Two limits, checked and taken together by one Lua script: the **minute quota** (at most `per_minute` requests in
each clock minute, a counter per minute) and the **burst** (a token bucket of `burst` tokens refilled at
`per_minute`/60 per second, so requests cannot all arrive at once). A request is allowed when both allow it and
then counts against both. The `X-RateLimit-*` headers describe the minute quota only — Limit (requests per
minute), Remaining (left this minute) and Reset (Unix time the minute ends) — so they are one consistent thing,
as the reference's example shows (300, 295, …); the IETF `RateLimit-Policy` / `RateLimit` headers list both
limits. Without Redis (or when Redis is down) the same limits run in this process's memory under a lock — limits
then hold per process, the documented degraded mode; requests are never refused because the store is unavailable.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from . import metrics
from .cache import breaker
from .clientaddr import client_address
from .exceptions import CODES, ApiError

logger = logging.getLogger("stratum.ratelimit")

LUA_TOKEN_BUCKET = """
local key = KEYS[1]
local window_key = KEYS[2]
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local per_minute = tonumber(ARGV[4])
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local used = tonumber(redis.call('GET', window_key) or '0')
local allowed = 0
if tokens >= 1 and used < per_minute then
  tokens = tokens - 1
  used = redis.call('INCR', window_key)
  redis.call('EXPIRE', window_key, 61)
  allowed = 1
end
-- ts is stored as it came (tostring keeps 14 digits: a Unix time with microseconds lost some, and the next call
-- saw time run backwards and took a fraction of a token too many)
redis.call('HSET', key, 'tokens', string.format('%.17g', tokens), 'ts', ARGV[3])
redis.call('EXPIRE', key, math.ceil(capacity / rate) + 60)
return {allowed, string.format('%.17g', tokens), used}
"""


# Redis names a loaded script by the SHA-1 of its text: EVALSHA with it, SCRIPT LOAD only when Redis answers NOSCRIPT.
LUA_TOKEN_BUCKET_SHA = hashlib.sha1(LUA_TOKEN_BUCKET.encode()).hexdigest()


@dataclass
class RateLimitState:
    limit: int  # requests per minute (the X-RateLimit-* headers describe this quota)
    remaining: int  # left in this clock minute
    reset: int  # Unix time this minute ends
    allowed: bool
    retry_after: int
    burst: int = 0  # the burst bucket's capacity, its tokens left and seconds until it is full again
    burst_remaining: int = 0
    burst_reset_seconds: int = 0

    @property
    def refusal(self) -> str:
        """Which limit refused the request, in words (the 429's detail)."""
        if self.remaining <= 0:
            return f"the {self.limit} requests of this minute are used up"
        return f"burst: at most {self.burst} requests at once, refilled at {self.limit} per minute"

    @property
    def policy_header(self) -> str:
        """IETF RateLimit-Policy: the minute quota, and the burst (its tokens over the time it takes to refill)."""
        refill = max(1, math.ceil(self.burst * 60 / self.limit)) if self.limit else 0
        return f'"minute";q={self.limit};w=60, "burst";q={self.burst};w={refill}'

    def header(self, now: float) -> str:
        """IETF RateLimit: what is left of each policy and the seconds until it resets."""
        return (f'"minute";r={self.remaining};t={max(0, self.reset - int(now))}, '
                f'"burst";r={self.burst_remaining};t={self.burst_reset_seconds}')


_local_lock = threading.Lock()
_local_buckets: dict[str, tuple[float, float]] = {}
_local_windows: dict[str, int] = {}


def _take_local(key: str, window_key: str, capacity: int, rate: float, now: float,
                per_minute: int) -> tuple[bool, float, int]:
    with _local_lock:
        tokens, ts = _local_buckets.get(key, (float(capacity), now))
        tokens = min(capacity, tokens + (now - ts) * rate)
        used = _local_windows.get(window_key, 0)
        allowed = tokens >= 1 and used < per_minute
        if allowed:
            tokens -= 1
            used += 1
            _local_windows[window_key] = used
        _local_buckets[key] = (tokens, now)
        if len(_local_buckets) > 100_000 or len(_local_windows) > 100_000:
            _local_buckets.clear()
            _local_windows.clear()
        return allowed, tokens, used


def _redis_client():
    try:
        from django_redis import get_redis_connection
    except ImportError:  # pragma: no cover
        return None
    if "RedisCache" not in settings.CACHES["default"]["BACKEND"]:
        return None
    return get_redis_connection("default")


def reset_local_buckets() -> None:
    with _local_lock:
        _local_buckets.clear()
        _local_windows.clear()


def _take_redis(client, keys: list[str], args: list) -> list:
    """The script's reply, sent on a connection of the client's pool. Every API request runs this once: redis-py's
    command path (Script object, retry wrapper, per-command hooks and callbacks) cost about twice the round trip it
    wraps, and none of it is needed for one EVALSHA whose failures the breaker handles. The pool still hands out a
    checked connection (a stale one is reconnected) and a socket error drops the connection, as redis-py does."""
    from redis.exceptions import NoScriptError

    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        try:
            connection.send_command("EVALSHA", LUA_TOKEN_BUCKET_SHA, len(keys), *keys, *args)
            return connection.read_response()
        except NoScriptError:  # a new or restarted Redis (or SCRIPT FLUSH): load it, once
            connection.send_command("SCRIPT", "LOAD", LUA_TOKEN_BUCKET)
            connection.read_response()
            connection.send_command("EVALSHA", LUA_TOKEN_BUCKET_SHA, len(keys), *keys, *args)
            return connection.read_response()
    finally:
        pool.release(connection)


def take_token(key: str, per_minute: int, burst: int) -> RateLimitState:
    now = time.time()
    rate = per_minute / 60.0
    minute = int(now // 60)
    window_key = f"{key}:m:{minute}"
    client = _redis_client() if breaker.allows() else None
    allowed, tokens, used = None, None, None
    if client is not None:
        try:
            prefix = settings.CACHES["default"].get("KEY_PREFIX", "stratum")
            result = _take_redis(client, [f"{prefix}:rl:{key}", f"{prefix}:rl:{window_key}"],
                                 [burst, rate, now, per_minute])
            allowed, tokens, used = bool(int(result[0])), float(result[1]), int(result[2])
        except Exception as exc:  # Redis down: degrade to the in-process limits (Redis skipped for a few seconds)
            breaker.failed("rate limiter", exc)
    if allowed is None:
        allowed, tokens, used = _take_local(key, window_key, burst, rate, now, per_minute)
    window_end = (minute + 1) * 60
    retry_after = 0
    if not allowed:
        waits = [math.ceil((1 - tokens) / rate)] if tokens < 1 else []
        if used >= per_minute:
            waits.append(math.ceil(window_end - now))
        retry_after = max(1, *waits) if waits else 1
    return RateLimitState(limit=per_minute, remaining=max(0, per_minute - used), reset=window_end, allowed=allowed,
                          retry_after=retry_after, burst=burst, burst_remaining=max(0, int(math.floor(tokens))),
                          burst_reset_seconds=max(0, math.ceil((burst - tokens) / rate)))


# Staff may set one tenant's own limits for a contract (Tenant.limit_overrides, via the staff console or the
# superadmin API); each beats the tier's value. The load test (`make load`) raises them the same way.
RATE_LIMIT_OVERRIDES = ("api_requests_per_minute", "api_burst")


def tenant_rate_limit(tenant) -> tuple[int, int]:
    """(requests per minute, burst) of a tenant: its tier's, or the staff override."""
    per_minute, burst = settings.RATELIMIT_TIERS.get(tenant.plan, settings.RATELIMIT_TIERS["starter"])
    overrides = tenant.limit_overrides or {}
    per_minute = int(overrides.get("api_requests_per_minute") or per_minute)
    burst = int(overrides.get("api_burst") or burst)
    return per_minute, burst


def limits_for_request(request) -> tuple[str, int, int]:
    tenant = getattr(request, "tenant", None)
    if tenant is not None:
        per_minute, burst = tenant_rate_limit(tenant)
        return f"t:{tenant.pk}", per_minute, burst
    ip = client_address(request)
    per_minute, burst = settings.RATELIMIT_ANONYMOUS
    return f"ip:{ip}", per_minute, burst


class TierRateThrottle(BaseThrottle):
    """DRF throttle hook: takes one token; the headers are set by ApiResponseMiddleware."""

    def allow_request(self, request, view) -> bool:
        if not settings.RATELIMIT_ENABLED:
            return True
        key, per_minute, burst = limits_for_request(request)
        state = take_token(key, per_minute, burst)
        request._request._ratelimit_state = state
        self._wait = state.retry_after
        if not state.allowed:
            metrics.RATE_LIMIT_REFUSALS.labels(limit="tenant" if key.startswith("t:") else "anonymous").inc()
        return state.allowed

    def wait(self):
        return self._wait


class RateLimited(ApiError):
    status_code = 429
    default_code = CODES[429]
    default_detail = "Too many requests."


def failures_limit(request, *, scope: str, per_minute: int, burst: int) -> None:
    """Counts one failed request of the client (by its real address) against `scope`'s bucket and raises 429 when
    the client has used it up. Called only once a request is known to fail (a bad signature, say), so callers that
    succeed never meet this limiter; the answer carries the bucket's headers."""
    if not settings.RATELIMIT_ENABLED:
        return
    state = take_token(f"{scope}:ip:{client_address(request)}", per_minute, burst)
    getattr(request, "_request", request)._ratelimit_state = state
    if not state.allowed:
        metrics.RATE_LIMIT_REFUSALS.labels(limit=scope).inc()
        raise RateLimited(f"Too many failed requests. Retry in {state.retry_after} seconds.",
                          headers={"Retry-After": str(state.retry_after)})


def exempt(request) -> None:
    """Marks a request the limiter must not count (nor refuse) after the view ran: a correctly signed callback."""
    getattr(request, "_request", request)._ratelimit_exempt = True
