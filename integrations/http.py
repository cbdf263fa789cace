"""Outbound calls to ad platforms and CRMs: one client with back-off, token renewal and error mapping.

- 429 and 5xx (and each API's own "slow down" codes) are retried up to `max_retries` times, waiting
  `Retry-After` when the provider sends it (seconds or an HTTP date) and 1 s, 2 s, 4 s … otherwise. A wait
  longer than `max_wait` is not slept through: the call raises `ConnectorRateLimited(retry_after=…)` so a
  Celery task can come back later instead of holding a worker.
- A rejected token (401, or the API's own auth error code) makes the client renew the token once through
  `on_unauthorized` and repeat the call; a second rejection raises `ConnectorAuthError`.
- A call that creates something (`repeat=False`) is not repeated after its request may have reached the provider
  (a timeout, a reset connection, a 5xx): the provider may have done it, so the caller looks before trying again.
  Refused connections and rate limits (nothing done) are still retried.
- Everything derived from the token is computed again for every attempt: `auth_headers()` and `auth_params()`
  (Meta's `appsecret_proof` is an HMAC of the token, so a retry after a renewal must carry the new token's).
- Each API reports errors its own way; `error_parser(response)` turns a response into a `ConnectorError`
  (or None when the response is a success) — TikTok, for one, answers errors with HTTP 200.
"""
from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from django.conf import settings

from campaigns.connectors.base import ConnectorAuthError, ConnectorError, ConnectorRateLimited, ConnectorRejected

from .errors import PLATFORM_FORBIDDEN, PLATFORM_NOT_FOUND, PLATFORM_UNAVAILABLE, PLATFORM_UNREACHABLE

logger = logging.getLogger("stratum.integrations")

ErrorParser = Callable[[httpx.Response], "ConnectorError | None"]

# Transport errors raised before the request left: repeating such a call cannot do anything twice.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# A seam for tests: back-off waits go through this function.
sleep = time.sleep


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def json_or_empty(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


def default_error(response: httpx.Response, message: str | None = None, *, provider: str = "") -> ConnectorError | None:
    """Status-code mapping shared by every API; parsers call it with the API's own message."""
    status = response.status_code
    if status < 400:
        return None
    label = f"{provider}: " if provider else ""
    text = message or response.reason_phrase or f"HTTP {status}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 401:
        return ConnectorAuthError(f"{label}{text}", status=status)
    if status == 429:
        return ConnectorRateLimited(f"{label}{text}", status=status, retry_after=retry_after)
    if status >= 500:
        return ConnectorError(f"{label}{text}", code=PLATFORM_UNAVAILABLE, retryable=True, status=status,
                              retry_after=retry_after)
    if status == 403:
        return ConnectorError(f"{label}{text}", code=PLATFORM_FORBIDDEN, status=status)
    if status == 404:
        return ConnectorError(f"{label}{text}", code=PLATFORM_NOT_FOUND, status=status)
    return ConnectorRejected(f"{label}{text}", status=status)


def http_client() -> httpx.Client:
    """Providers' fixed, well-known hosts: no SSRF guard needed, but never follow redirects silently."""
    return httpx.Client(timeout=settings.INTEGRATIONS_HTTP_TIMEOUT, follow_redirects=False, trust_env=False,
                        headers={"User-Agent": "Stratum/2.0 (+integrations)"})


class ProviderHttp:
    def __init__(self, *, provider: str, error_parser: ErrorParser,
                 auth_headers: Callable[[], dict[str, str]] | None = None,
                 auth_params: Callable[[], dict[str, str]] | None = None,
                 on_unauthorized: Callable[[], None] | None = None,
                 max_retries: int = 3, max_wait: float = 60.0, base_delay: float = 1.0):
        self.provider = provider
        self.error_parser = error_parser
        self.auth_headers = auth_headers or (lambda: {})
        self.auth_params = auth_params or (lambda: {})
        self.on_unauthorized = on_unauthorized
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.base_delay = base_delay

    def request(self, method: str, url: str, *, repeat: bool = True, **kwargs) -> httpx.Response:
        renewed = False
        attempt = 0
        extra_headers = kwargs.pop("headers", None) or {}
        params = kwargs.pop("params", None)
        with http_client() as client:
            while True:
                headers = {**self.auth_headers(), **extra_headers}
                # Merged into the URL's own query (a paging link carries one): httpx would replace it with `params`.
                target = httpx.URL(url)
                for extra in (params, self.auth_params()):
                    if extra:
                        target = target.copy_merge_params(extra)
                try:
                    response = client.request(method, target, headers=headers, **kwargs)
                except httpx.TransportError as exc:
                    error: ConnectorError = ConnectorError(
                        f"{self.provider}: could not reach the API ({exc.__class__.__name__}).",
                        code=PLATFORM_UNREACHABLE, retryable=True)
                    reached = not isinstance(exc, NOT_SENT)
                else:
                    parsed = self.error_parser(response)
                    if parsed is None:
                        return response
                    error = parsed
                    reached = not isinstance(error, ConnectorRateLimited)
                if isinstance(error, ConnectorAuthError) and self.on_unauthorized and not renewed:
                    renewed = True
                    self.on_unauthorized()
                    continue
                if not error.retryable or attempt >= self.max_retries or (reached and not repeat):
                    raise error
                wait = error.retry_after if error.retry_after is not None else self.base_delay * (2 ** attempt)
                if wait > self.max_wait:
                    raise error
                attempt += 1
                logger.info("%s %s %s: %s; retry %d in %.1fs", self.provider, method, url, error, attempt, wait)
                sleep(wait)

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def json(self, method: str, url: str, **kwargs) -> Any:
        return json_or_empty(self.request(method, url, **kwargs))
