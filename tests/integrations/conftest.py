"""Every provider configured (client ids/secrets), back-off waits recorded instead of slept."""
from __future__ import annotations

import pytest

from integrations.models import PROVIDERS
from integrations.versions import DEFAULT_VERSIONS

REDIRECT_BASE = "https://app.stratum.test"


@pytest.fixture(autouse=True)
def providers_configured(settings):
    for provider in PROVIDERS:
        setattr(settings, f"{provider.upper()}_CLIENT_ID", f"{provider}-client-id")
        setattr(settings, f"{provider.upper()}_CLIENT_SECRET", f"{provider}-client-secret")
    settings.GOOGLE_ADS_DEVELOPER_TOKEN = "dev-token-123"
    settings.GOOGLE_ADS_CUSTOMER_MATCH_CONSENT = "UNSPECIFIED"
    settings.META_LOGIN_CONFIG_ID = None
    settings.OAUTH_REDIRECT_BASE_URL = REDIRECT_BASE
    settings.META_GRAPH_VERSION = DEFAULT_VERSIONS["meta"]
    settings.GOOGLE_ADS_API_VERSION = DEFAULT_VERSIONS["google"]
    settings.SALESFORCE_LOGIN_URL = "https://login.salesforce.com"
    settings.SALESFORCE_API_VERSION = "v61.0"
    settings.RATELIMIT_ENABLED = False
    return settings


@pytest.fixture(autouse=True)
def waits(monkeypatch):
    """Back-off waits the HTTP client would have slept."""
    slept: list[float] = []
    monkeypatch.setattr("integrations.http.sleep", slept.append)
    return slept
