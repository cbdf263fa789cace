"""The real ad-platform connectors and their factories for `campaigns.connectors.register()`."""
from __future__ import annotations

from campaigns.connectors.base import AdPlatformConnector, ConnectorError
from stratum.api.exceptions import NOT_CONNECTED

from ..models import Connection
from .google import GoogleAdsConnector
from .meta import MetaConnector
from .snapchat import SnapchatConnector
from .tiktok import TikTokConnector

CONNECTORS: dict[str, type] = {
    "meta": MetaConnector,
    "google": GoogleAdsConnector,
    "tiktok": TikTokConnector,
    "snapchat": SnapchatConnector,
}


def connector_for_connection(connection: Connection, ad_account=None) -> AdPlatformConnector:
    return CONNECTORS[connection.provider](connection, ad_account)


def connector_for_ad_account(ad_account) -> AdPlatformConnector:
    """The factory registered with campaigns.connectors: the ad account's connection, tokens renewed on use."""
    connection = None
    if ad_account.connection_id:
        connection = Connection.objects.for_tenant(ad_account.tenant_id).filter(
            pk=ad_account.connection_id, provider=ad_account.platform).first()
    if connection is None:
        raise ConnectorError(f"{ad_account.platform} is not connected for this ad account; connect it again.",
                             code=NOT_CONNECTED)
    return connector_for_connection(connection, ad_account)
