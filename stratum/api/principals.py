"""What the kernel knows of the principals the apps define, without importing those apps.

- `Tenant`: what the kernel reads of a tenant (accounts.Tenant satisfies it): its key, plan and overrides.
- `ApiKeyPrincipal`: the marker base of an API key (accounts.ApiKey inherits it). A request authenticated by a key
  carries that key in `request.auth`; `is_api_key_request()` asks exactly that.
"""
from __future__ import annotations

from typing import Any, Protocol


class Tenant(Protocol):
    pk: Any
    plan: str
    limit_overrides: dict


class ApiKeyPrincipal:
    """Base of the API key model: the kernel tells a key from a user's token by it."""

    __slots__ = ()


def is_api_key_request(request) -> bool:
    return isinstance(getattr(request, "auth", None), ApiKeyPrincipal)
