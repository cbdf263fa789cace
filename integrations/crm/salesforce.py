"""Salesforce REST API: Contacts through SOQL, updates through the sObject Collections API.

Wire facts: `GET {instance_url}/services/data/vXX.X/query?q=<SOQL>` answers `{totalSize, done,
nextRecordsUrl, records: [{attributes: {type, url}, Id, …}]}` and the next batch is at `nextRecordsUrl`;
datetime literals are unquoted ISO-8601 UTC; `PATCH …/composite/sobjects` updates up to 200 records with
`allOrNone: false` and answers one `{id, success, errors}` per record. Errors are a list of
`{"message", "errorCode"}` — INVALID_SESSION_ID (401) for an expired session, REQUEST_LIMIT_EXCEEDED
(403) when the org's API quota is spent. Field names go into SOQL, so they are validated strictly.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
from django.conf import settings

from campaigns.connectors.base import ConnectorAuthError, ConnectorError, ConnectorRateLimited

from ..errors import CRM_MAPPING_INVALID
from ..http import default_error, json_or_empty
from .base import ContactUpdate, CrmConnector, CrmContact, PushResult

SOQL_FIELD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
QUOTA_WAIT = 3600.0


class SalesforceConnector(CrmConnector):
    provider = "salesforce"
    default_field_map = {"email": "Email", "phone": "Phone", "first_name": "FirstName", "last_name": "LastName",
                         "job_title": "Title", "city": "MailingCity", "country": "MailingCountry"}
    push_batch = 200

    @property
    def base(self) -> str:
        instance = (self.connection.metadata or {}).get("instance_url")
        if not instance:
            raise ConnectorAuthError("Salesforce connection has no instance URL; reconnect it.")
        return f"{instance}/services/data/{settings.SALESFORCE_API_VERSION}"

    def parse_error(self, response: httpx.Response) -> ConnectorError | None:
        if response.status_code < 400:
            return None
        body = json_or_empty(response)
        first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
        code = first.get("errorCode", "")
        message = f"Salesforce: {first.get('message', 'error')} ({code})" if first else None
        if code == "INVALID_SESSION_ID" or response.status_code == 401:
            return ConnectorAuthError(message or "Salesforce: session expired", status=401)
        if code == "REQUEST_LIMIT_EXCEEDED":
            return ConnectorRateLimited(message, status=response.status_code, retry_after=QUOTA_WAIT)
        return default_error(response, message, provider="")

    def pull_contacts(self, *, since: datetime | None) -> Iterator[CrmContact]:
        fields = sorted(set(self.pulled_fields.values()))
        bad = [f for f in fields if not SOQL_FIELD_RE.match(f)]
        if bad:
            raise ConnectorError(f"Invalid Salesforce field name: {bad[0][:40]!r}.", code=CRM_MAPPING_INVALID)
        soql = f"SELECT Id, LastModifiedDate, {', '.join(f for f in fields if f not in ('Id', 'LastModifiedDate'))} " \
               "FROM Contact"
        if since:
            soql += f" WHERE LastModifiedDate >= {since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        soql += " ORDER BY LastModifiedDate ASC"
        body = self.http.json("GET", f"{self.base}/query", params={"q": soql})
        instance = (self.connection.metadata or {})["instance_url"]
        while True:
            for record in body.get("records") or []:
                modified = datetime.fromisoformat(record["LastModifiedDate"].replace("Z", "+00:00").replace("+0000", "+00:00"))
                yield CrmContact(external_id=record["Id"], values=self.from_crm(record), modified_at=modified)
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not next_url:
                return
            if not next_url.startswith("/services/data/"):
                raise ConnectorError("Salesforce answered an unexpected nextRecordsUrl.")
            body = self.http.json("GET", f"{instance}{next_url}")

    def push_contacts(self, updates: list[ContactUpdate]) -> PushResult:
        result = PushResult()
        for start in range(0, len(updates), self.push_batch):
            batch = [u for u in updates[start:start + self.push_batch] if self.to_crm(u.values)]
            if not batch:
                continue
            records = [{"attributes": {"type": "Contact"}, "id": u.external_id, **self.to_crm(u.values)} for u in batch]
            answers = self.http.json("PATCH", f"{self.base}/composite/sobjects",
                                     json={"allOrNone": False, "records": records})
            for update, answer in zip(batch, answers if isinstance(answers, list) else [], strict=False):
                if answer.get("success"):
                    result.pushed += 1
                else:
                    reason = "; ".join(e.get("message", "") for e in answer.get("errors") or []) or "rejected"
                    result.failed.append((update.external_id, reason[:300]))
        return result

    def delete_contacts(self, external_ids: list[str]) -> PushResult:
        """sObject Collections delete, up to 200 ids a call, each answered on its own (allOrNone=false); an id
        already deleted (ENTITY_IS_DELETED) or unknown counts as deleted."""
        result = PushResult()
        for start in range(0, len(external_ids), 200):
            ids = external_ids[start:start + 200]
            answers = self.http.json("DELETE", f"{self.base}/composite/sobjects",
                                     params={"ids": ",".join(ids), "allOrNone": "false"})
            for external_id, answer in zip(ids, answers if isinstance(answers, list) else [], strict=False):
                codes = {e.get("statusCode") for e in answer.get("errors") or []}
                if answer.get("success") or codes & {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"}:
                    result.pushed += 1
                else:
                    reason = "; ".join(e.get("message", "") for e in answer.get("errors") or []) or "rejected"
                    result.failed.append((external_id, reason[:300]))
        return result
