"""Connector registry: `get_connector(account)` returns the connector for an ad account.

Platforms register a factory `(ad_account) -> AdPlatformConnector`; the demo platform registers
itself here, the integrations app registers the real platforms in its AppConfig.ready().
"""
from __future__ import annotations

from typing import Callable

from .base import AdPlatformConnector, ConnectorError

_factories: dict[str, Callable[..., AdPlatformConnector]] = {}


def register(platform: str, factory: Callable[..., AdPlatformConnector]) -> None:
    _factories[platform] = factory


def get_connector(ad_account) -> AdPlatformConnector:
    factory = _factories.get(ad_account.platform)
    if factory is None:
        raise ConnectorError(f"No connector is available for {ad_account.platform}.", code="PLATFORM_NOT_CONNECTED")
    return factory(ad_account)


def registered_platforms() -> list[str]:
    return sorted(_factories)
