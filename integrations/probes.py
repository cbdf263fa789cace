"""One live, read-only call per provider with a connection's token: does this installation reach the API, with
the version it is configured for? Used by `manage.py connectors_check`."""
from __future__ import annotations

from collections.abc import Callable

from .connectors import GoogleAdsConnector, MetaConnector, SnapchatConnector, TikTokConnector
from .connectors.snapchat import API as SNAPCHAT_API
from .crm.hubspot import API as HUBSPOT_API
from .crm.hubspot import HubSpotConnector
from .crm.pipedrive import PipedriveConnector
from .crm.salesforce import SalesforceConnector
from .crm.zoho import ZohoConnector
from .models import Connection
from .oauth.providers import PROVIDERS


def _meta(connection: Connection) -> str:
    connector = MetaConnector(connection)
    me = connector.http.json("GET", f"{connector.base}/me", params={"fields": "id,name"})
    return f"token of {me.get('name') or me.get('id')}"


def _google(connection: Connection) -> str:
    connector = GoogleAdsConnector(connection)
    names = connector.http.json("GET", f"{connector.base}/customers:listAccessibleCustomers").get("resourceNames")
    return f"{len(names or [])} accessible customer(s)"


def _tiktok(connection: Connection) -> str:
    provider = PROVIDERS["tiktok"]
    data = TikTokConnector(connection)._get("oauth2/advertiser/get/", {"app_id": provider.client_id,
                                                                      "secret": provider.client_secret})
    return f"{len(data.get('list') or [])} advertiser(s)"


def _snapchat(connection: Connection) -> str:
    me = SnapchatConnector(connection).http.json("GET", f"{SNAPCHAT_API}/me").get("me") or {}
    return f"token of {me.get('display_name') or me.get('email') or me.get('id')}"


def _hubspot(connection: Connection) -> str:
    body = HubSpotConnector(connection).http.json("GET", HUBSPOT_API, params={"limit": 1, "properties": "email"})
    return f"contacts readable ({len(body.get('results') or [])} on the first page)"


def _pipedrive(connection: Connection) -> str:
    connector = PipedriveConnector(connection)
    body = connector.http.json("GET", connector.base, params={"limit": 1})
    return f"persons readable ({len(body.get('data') or [])} on the first page)"


def _salesforce(connection: Connection) -> str:
    connector = SalesforceConnector(connection)
    limits = connector.http.json("GET", f"{connector.base}/limits")
    daily = limits.get("DailyApiRequests") or {}
    return f"API requests left today: {daily.get('Remaining', '?')} of {daily.get('Max', '?')}"


def _zoho(connection: Connection) -> str:
    connector = ZohoConnector(connection)
    response = connector.http.request("GET", connector.base, params={"fields": "Email", "per_page": 1})
    return "contacts readable" if response.status_code in (200, 204) else f"HTTP {response.status_code}"


PROBES: dict[str, Callable[[Connection], str]] = {
    "meta": _meta, "google": _google, "tiktok": _tiktok, "snapchat": _snapchat,
    "hubspot": _hubspot, "pipedrive": _pipedrive, "salesforce": _salesforce, "zoho": _zoho,
}
