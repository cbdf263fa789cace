"""Connector registry: `get_connector(account)` returns the connector for an ad account.

Platforms register a factory `(ad_account) -> AdPlatformConnector` — preferably the connector class itself,
so that class attributes such as `supports_audiences` can be read without building one. The demo platform
registers itself in campaigns' AppConfig.ready(), the integrations app registers the real platforms in its own.
"""
from __future__ import annotations

from collections.abc import Callable

from stratum.api.exceptions import NOT_CONNECTED

from .base import AdPlatformConnector, ConnectorError, ConnectorRejected

_factories: dict[str, Callable[..., AdPlatformConnector]] = {}


def register(platform: str, factory: Callable[..., AdPlatformConnector]) -> None:
    _factories[platform] = factory


def get_connector(ad_account) -> AdPlatformConnector:
    factory = _factories.get(ad_account.platform)
    if factory is None:
        raise ConnectorError(f"No connector is available for {ad_account.platform}.", code=NOT_CONNECTED)
    return factory(ad_account)


def registered_platforms() -> list[str]:
    return sorted(_factories)


def supports_audiences(platform: str) -> bool:
    """Whether the platform's registered connector uploads audiences (read from the class/factory)."""
    return bool(getattr(_factories.get(platform), "supports_audiences", False))


__all__ = ["AdPlatformConnector", "ConnectorError", "ConnectorRejected", "get_connector", "register",
           "registered_platforms", "supports_audiences"]
