"""Per-tier rate limiting: a token bucket per tenant (per IP when anonymous), atomic in Redis.

Bucket capacity = the tier's burst; refill = the tier's requests per minute. One Lua script does
read-refill-take-write atomically. Without Redis (or when Redis is down) the same bucket runs in
this process's memory under a lock — limits then hold per process, which is the documented
degraded mode; requests are never refused because the limiter's store is unavailable.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from .cache import breaker
from .clientaddr import client_address
from .exceptions import CODES, ApiError

logger = logging.getLogger("stratum.ratelimit")

LUA_TOKEN_BUCKET = """
local key = KEYS[1]
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
-- ts is stored as it came (tostring keeps 14 digits: a Unix time with microseconds lost some, and the next call
-- saw time run backwards and took a fraction of a token too many)
redis.call('HSET', key, 'tokens', string.format('%.17g', tokens), 'ts', ARGV[3])
redis.call('EXPIRE', key, math.ceil(capacity / rate) + 60)
return {allowed, tostring(tokens)}
"""


@dataclass
class RateLimitState:
    limit: int
    remaining: int
    reset: int
    allowed: bool
    retry_after: int


_local_lock = threading.Lock()
_local_buckets: dict[str, tuple[float, float]] = {}
_redis_script = None


def _take_local(key: str, capacity: int, rate: float, now: float) -> tuple[bool, float]:
    with _local_lock:
        tokens, ts = _local_buckets.get(key, (float(capacity), now))
        tokens = min(capacity, tokens + (now - ts) * rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        _local_buckets[key] = (tokens, now)
        if len(_local_buckets) > 100_000:
            _local_buckets.clear()
        return allowed, tokens


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


def take_token(key: str, per_minute: int, burst: int) -> RateLimitState:
    global _redis_script
    now = time.time()
    rate = per_minute / 60.0
    client = _redis_client() if breaker.allows() else None
    allowed, tokens = None, None
    if client is not None:
        try:
            if _redis_script is None:
                _redis_script = client.register_script(LUA_TOKEN_BUCKET)
            prefix = settings.CACHES["default"].get("KEY_PREFIX", "stratum")
            result = _redis_script(keys=[f"{prefix}:rl:{key}"], args=[burst, rate, now], client=client)
            allowed, tokens = bool(int(result[0])), float(result[1])
        except Exception as exc:  # Redis down: degrade to the in-process bucket (Redis skipped for a few seconds)
            breaker.failed("rate limiter", exc)
            _redis_script = None
    if allowed is None:
        allowed, tokens = _take_local(key, burst, rate, now)
    remaining = max(0, int(math.floor(tokens)))
    reset = int(now + math.ceil((burst - tokens) / rate)) if tokens < burst else int(now)
    retry_after = 0 if allowed else max(1, int(math.ceil((1 - tokens) / rate)))
    return RateLimitState(limit=per_minute, remaining=remaining, reset=reset, allowed=allowed, retry_after=retry_after)


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
        raise RateLimited(f"Too many failed requests. Retry in {state.retry_after} seconds.",
                          headers={"Retry-After": str(state.retry_after)})


def exempt(request) -> None:
    """Marks a request the limiter must not count (nor refuse) after the view ran: a correctly signed callback."""
    getattr(request, "_request", request)._ratelimit_exempt = True
