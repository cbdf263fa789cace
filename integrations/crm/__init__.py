"""CRM connectors (HubSpot, Salesforce, Pipedrive, Zoho) behind one interface (base.CrmConnector)."""
from __future__ import annotations

from .base import ContactUpdate, CrmConnector, CrmContact, PushResult
from .hubspot import HubSpotConnector
from .pipedrive import PipedriveConnector
from .salesforce import SalesforceConnector
from .zoho import ZohoConnector

CRM_CONNECTORS: dict[str, type[CrmConnector]] = {
    "hubspot": HubSpotConnector,
    "salesforce": SalesforceConnector,
    "pipedrive": PipedriveConnector,
    "zoho": ZohoConnector,
}


def crm_connector_for(connection) -> CrmConnector:
    return CRM_CONNECTORS[connection.provider](connection)


__all__ = ["CRM_CONNECTORS", "ContactUpdate", "CrmConnector", "CrmContact", "PushResult", "crm_connector_for"]
