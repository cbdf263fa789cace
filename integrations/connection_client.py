"""Calls made with one OAuth connection's token: renewed before expiry, and once more on a 401."""
from __future__ import annotations

import httpx

from campaigns.connectors.base import ConnectorError

from .http import ProviderHttp, default_error
from .models import Connection
from .oauth.services import connection_access_token, connection_refresh


class ConnectionClient:
    """Mixin: `bind(connection)` gives `self.http`, a ProviderHttp using the connection's token."""

    platform = ""
    provider = ""

    def bind(self, connection: Connection) -> None:
        self.connection = connection
        self.http = ProviderHttp(provider=self.provider or self.platform, error_parser=self.parse_error,
                                 auth_headers=self.auth_headers, auth_params=self.auth_params,
                                 on_unauthorized=self.renew_token)

    def token(self) -> str:
        return connection_access_token(connection=self.connection)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def auth_params(self) -> dict[str, str]:
        """Query parameters derived from the token, recomputed for every attempt (Meta: appsecret_proof)."""
        return {}

    def renew_token(self) -> None:
        fresh = connection_refresh(connection=self.connection, force=True)
        self.connection.access_token_encrypted = fresh.access_token_encrypted
        self.connection.token_expires_at = fresh.token_expires_at

    def parse_error(self, response: httpx.Response) -> ConnectorError | None:
        """The API's own error format -> ConnectorError; None for a success. Every client overrides it."""
        return default_error(response, provider=self.provider or self.platform)
