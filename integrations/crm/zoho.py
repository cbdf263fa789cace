"""Zoho CRM Contacts (API v7) on the data centre's `api_domain`.

Wire facts: the token goes as `Authorization: Zoho-oauthtoken …`; `GET /crm/v7/Contacts?fields=…&per_page=200
&sort_by=Modified_Time&sort_order=asc` with `If-Modified-Since` returns only records changed since then (304
when none) and pages with `info.more_records` + `info.page` (and `info.next_page_token` past 2,000 records);
`PUT /crm/v7/Contacts` updates up to 100 records and answers one `{code, details, message, status}` per
record. Errors are `{"code": "INVALID_TOKEN" | "TOO_MANY_REQUESTS" | …, "message", "status": "error"}`.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from campaigns.connectors.base import ConnectorAuthError, ConnectorError, ConnectorRateLimited

from ..http import default_error, json_or_empty, parse_retry_after
from .base import ContactUpdate, CrmConnector, CrmContact, PushResult

AUTH_CODES = {"INVALID_TOKEN", "AUTHENTICATION_FAILURE", "OAUTH_SCOPE_MISMATCH"}


class ZohoConnector(CrmConnector):
    provider = "zoho"
    default_field_map = {"email": "Email", "phone": "Phone", "first_name": "First_Name", "last_name": "Last_Name",
                         "job_title": "Title", "city": "Mailing_City", "country": "Mailing_Country"}

    @property
    def base(self) -> str:
        domain = (self.connection.metadata or {}).get("api_domain")
        if not domain:
            raise ConnectorAuthError("Zoho connection has no api_domain; reconnect it.")
        return f"{domain}/crm/v7/Contacts"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Zoho-oauthtoken {self.token()}"}

    def parse_error(self, response: httpx.Response) -> ConnectorError | None:
        if response.status_code < 400:
            return None
        body = json_or_empty(response)
        if response.status_code == 400 and isinstance(body, dict) and isinstance(body.get("data"), list):
            return None  # a write whose every record was refused: one answer per record, read by the caller
        code = body.get("code") if isinstance(body, dict) else None
        message = f"Zoho: {body.get('message', 'error')} ({code})" if code else None
        if code in AUTH_CODES or response.status_code == 401:
            return ConnectorAuthError(message or "Zoho: unauthorized", status=response.status_code)
        if code == "TOO_MANY_REQUESTS" or response.status_code == 429:
            return ConnectorRateLimited(message, status=429,
                                        retry_after=parse_retry_after(response.headers.get("Retry-After")))
        return default_error(response, message, provider="")

    def pull_contacts(self, *, since: datetime | None) -> Iterator[CrmContact]:
        fields = sorted(set(self.pulled_fields.values()) | {"Modified_Time"})
        params: dict[str, Any] = {"fields": ",".join(fields), "per_page": 200, "sort_by": "Modified_Time",
                                  "sort_order": "asc", "page": 1}
        headers = {"If-Modified-Since": since.astimezone(UTC).isoformat(timespec="seconds")} if since else {}
        while True:
            response = self.http.request("GET", self.base, params=params, headers=headers)
            if response.status_code in (204, 304):
                return
            body = json_or_empty(response)
            for record in body.get("data") or []:
                modified = datetime.fromisoformat(str(record.get("Modified_Time")))
                yield CrmContact(external_id=str(record["id"]), values=self.from_crm(record),
                                 modified_at=modified.astimezone(UTC))
            info = body.get("info") or {}
            if not info.get("more_records"):
                return
            if info.get("next_page_token"):
                params = {**{k: v for k, v in params.items() if k != "page"}, "page_token": info["next_page_token"]}
            else:
                params = {**params, "page": int(info.get("page") or params.get("page", 1)) + 1}

    def push_contacts(self, updates: list[ContactUpdate]) -> PushResult:
        result = PushResult()
        for start in range(0, len(updates), self.push_batch):
            batch = [u for u in updates[start:start + self.push_batch] if self.to_crm(u.values)]
            if not batch:
                continue
            body = self.http.json("PUT", self.base, json={"data": [{"id": u.external_id, **self.to_crm(u.values)}
                                                                   for u in batch]})
            for update, answer in zip(batch, body.get("data") or [], strict=False):
                if str(answer.get("status")).lower() == "success":
                    result.pushed += 1
                else:
                    result.failed.append((update.external_id, f"{answer.get('code')}: {answer.get('message')}"[:300]))
        return result

    def delete_contacts(self, external_ids: list[str]) -> PushResult:
        """DELETE /Contacts?ids=…, up to 100 a call, each answered on its own; an unknown id counts as deleted."""
        result = PushResult()
        for start in range(0, len(external_ids), 100):
            ids = external_ids[start:start + 100]
            body = self.http.json("DELETE", self.base, params={"ids": ",".join(ids)})
            for external_id, answer in zip(ids, body.get("data") or [], strict=False):
                if answer.get("status") == "success" or answer.get("code") == "INVALID_DATA":
                    result.pushed += 1
                else:
                    result.failed.append((external_id, str(answer.get("message", "rejected"))[:300]))
        return result
