"""Pipedrive persons (API v2) on the company's `api_domain`.

Wire facts: `GET /api/v2/persons?updated_since=<RFC 3339>&sort_by=update_time&sort_direction=asc&limit=500`
pages with `additional_data.next_cursor`; a person has `first_name`, `last_name`, `emails`/`phones` as
lists of `{value, primary, label}`, `update_time` and `custom_fields` keyed by the field's hash key;
`PATCH /api/v2/persons/{id}` updates one person. Errors are `{"success": false, "error", "error_info"}`;
429 carries `x-ratelimit-reset` (seconds) besides any Retry-After.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from campaigns.connectors.base import ConnectorAuthError, ConnectorError, ConnectorRateLimited

from ..http import default_error, json_or_empty, parse_retry_after
from .base import ContactUpdate, CrmConnector, CrmContact, PushResult

STANDARD = {"first_name", "last_name", "name", "emails", "phones"}


def _primary(items) -> str | None:
    items = [i for i in items or [] if isinstance(i, dict) and i.get("value")]
    chosen = next((i for i in items if i.get("primary")), items[0] if items else None)
    return chosen["value"] if chosen else None


class PipedriveConnector(CrmConnector):
    provider = "pipedrive"
    default_field_map = {"email": "emails", "phone": "phones", "first_name": "first_name", "last_name": "last_name"}

    @property
    def base(self) -> str:
        domain = (self.connection.metadata or {}).get("api_domain")
        if not domain:
            raise ConnectorAuthError("Pipedrive connection has no api_domain; reconnect it.")
        return f"{domain}/api/v2/persons"

    def parse_error(self, response: httpx.Response) -> ConnectorError | None:
        body = json_or_empty(response)
        if response.status_code < 400 and not (isinstance(body, dict) and body.get("success") is False):
            return None
        message = None
        if isinstance(body, dict) and (body.get("error") or body.get("message")):
            message = f"Pipedrive: {body.get('error') or body.get('message')}"
        if response.status_code == 401:
            return ConnectorAuthError(message or "Pipedrive: unauthorized", status=401)
        if response.status_code == 429:
            wait = parse_retry_after(response.headers.get("Retry-After") or response.headers.get("x-ratelimit-reset"))
            return ConnectorRateLimited(message or "Pipedrive: rate limited", status=429, retry_after=wait)
        return default_error(response, message, provider="") or ConnectorError(message or "Pipedrive: error")

    def _flatten(self, person: dict) -> dict[str, Any]:
        flat = {**(person.get("custom_fields") or {}), **{k: person.get(k) for k in STANDARD}}
        flat["emails"], flat["phones"] = _primary(person.get("emails")), _primary(person.get("phones"))
        return flat

    def pull_contacts(self, *, since: datetime | None) -> Iterator[CrmContact]:
        params: dict[str, Any] = {"limit": 500, "sort_by": "update_time", "sort_direction": "asc"}
        if since:
            params["updated_since"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        while True:
            body = self.http.json("GET", self.base, params=params)
            for person in body.get("data") or []:
                modified = datetime.fromisoformat(str(person.get("update_time") or person.get("add_time"))
                                                  .replace("Z", "+00:00"))
                if modified.tzinfo is None:
                    modified = modified.replace(tzinfo=UTC)
                yield CrmContact(external_id=str(person["id"]), values=self.from_crm(self._flatten(person)),
                                 modified_at=modified)
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return
            params = {**params, "cursor": cursor}

    def push_contacts(self, updates: list[ContactUpdate]) -> PushResult:
        result = PushResult()
        for update in updates:
            fields = self.to_crm(update.values)
            if not fields:
                continue
            body: dict[str, Any] = {}
            custom = {}
            for key, value in fields.items():
                if key in ("emails", "phones"):
                    body[key] = [{"value": value, "primary": True, "label": "work"}]
                elif key in STANDARD:
                    body[key] = value
                else:
                    custom[key] = value
            if custom:
                body["custom_fields"] = custom
            try:
                self.http.request("PATCH", f"{self.base}/{int(update.external_id)}", json=body)
            except ConnectorError as exc:
                if exc.retryable or isinstance(exc, ConnectorAuthError):
                    raise
                result.failed.append((update.external_id, str(exc)[:300]))
            else:
                result.pushed += 1
        return result

    def delete_contacts(self, external_ids: list[str]) -> PushResult:
        """DELETE /persons/{id}, one person per call."""
        return self._delete_each(external_ids, lambda external_id: self.http.request(
            "DELETE", f"{self.base}/{int(external_id)}"))
