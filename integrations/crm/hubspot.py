"""HubSpot CRM v3 contacts.

Wire facts: `POST /crm/v3/objects/contacts/search` filters on `lastmodifieddate` (ms since epoch), sorts
ascending and pages with `paging.next.after` — one search reaches at most 10,000 results, so the pull
re-anchors the filter on the last modification time seen; `POST …/contacts/batch/read` with
`propertiesWithHistory` gives each property's change timestamps (the per-field last-modified times) for at most
50 ids per call (more answer 400 "Batch read with propertiesWithHistory is limited to 50 records");
`POST …/contacts/batch/update` takes at most 100 inputs and answers 207 with `errors` on partial
failure. Errors are `{"status": "error", "message", "category", "correlationId"}`; a 429 also names the
limit it hit in `policyName` ("Usage details": SECONDLY / TEN_SECONDLY_ROLLING are burst limits worth
waiting out; DAILY lasts until midnight in the portal's time zone, which Stratum does not know: the run stops
there, is not retried into the same wall, and the next scheduled run picks up from the last cursor).
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx

from campaigns.connectors.base import ConnectorAuthError, ConnectorError, ConnectorRateLimited

from ..http import default_error, json_or_empty, parse_retry_after
from .base import ContactUpdate, CrmConnector, CrmContact, PushResult

API = "https://api.hubapi.com/crm/v3/objects/contacts"
SEARCH_LIMIT = 10_000
HISTORY_BATCH = 50  # batch/read with propertiesWithHistory: at most 50 inputs (HubSpot CRM objects API, limits)
BURST_POLICIES = {"SECONDLY": 1.0, "TEN_SECONDLY_ROLLING": 10.0}


def _ms(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))


def _when(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, (int, float)) or str(value).isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class HubSpotConnector(CrmConnector):
    provider = "hubspot"
    default_field_map = {"email": "email", "phone": "phone", "first_name": "firstname", "last_name": "lastname",
                         "company": "company", "job_title": "jobtitle", "city": "city", "country": "country",
                         "lifecycle_stage": "lifecyclestage"}
    lifecycle_in = {"subscriber": "subscriber", "lead": "lead", "marketingqualifiedlead": "lead",
                    "salesqualifiedlead": "lead", "opportunity": "lead", "customer": "customer",
                    "evangelist": "customer"}
    lifecycle_out = {"subscriber": "subscriber", "lead": "lead", "customer": "customer"}

    def parse_error(self, response: httpx.Response) -> ConnectorError | None:
        if response.status_code < 400:
            return None
        body = json_or_empty(response)
        category = body.get("category") if isinstance(body, dict) else None
        message = f"HubSpot: {body.get('message', 'error')} ({category})" if isinstance(body, dict) and body else None
        if category in ("EXPIRED_AUTHENTICATION", "INVALID_AUTHENTICATION"):
            return ConnectorAuthError(message, status=response.status_code)
        if category == "RATE_LIMITS" or response.status_code == 429 or (
                isinstance(body, dict) and body.get("errorType") == "RATE_LIMIT"):
            policy = str(body.get("policyName") or "") if isinstance(body, dict) else ""
            message = message or "HubSpot: rate limited"
            if policy == "DAILY":
                return ConnectorRateLimited(
                    f"{message} [daily limit: the next scheduled sync resumes after midnight in the portal's time "
                    "zone]", status=response.status_code, retryable=False)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return ConnectorRateLimited(message, status=response.status_code,
                                        retry_after=retry_after if retry_after is not None else BURST_POLICIES.get(policy))
        return default_error(response, message, provider="")

    def pull_contacts(self, *, since: datetime | None) -> Iterator[CrmContact]:
        properties = sorted(set(self.pulled_fields.values()) | {"lastmodifieddate"})
        anchor = since or datetime(1970, 1, 1, tzinfo=UTC)
        seen: set[str] = set()
        while True:
            after, reached, newest = None, 0, anchor
            while True:
                body = {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                                       "value": _ms(anchor)}]}],
                        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                        "properties": properties, "limit": 100}
                if after:
                    body["after"] = after
                page = self.http.json("POST", f"{API}/search", json=body)
                ids = [r["id"] for r in page.get("results") or [] if r["id"] not in seen]
                for contact in self._read_with_history(ids, properties):
                    seen.add(contact.external_id)
                    newest = max(newest, contact.modified_at)
                    yield contact
                reached += len(page.get("results") or [])
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    return
                if reached + 100 > SEARCH_LIMIT:
                    break  # the search cannot page further: start again from the newest change seen
            if newest == anchor:
                return
            anchor = newest

    def _read_with_history(self, ids: list[str], properties: list[str]) -> list[CrmContact]:
        by_id: dict[str, dict] = {}
        for start in range(0, len(ids), HISTORY_BATCH):
            body = self.http.json("POST", f"{API}/batch/read", json={
                "properties": properties, "propertiesWithHistory": sorted(self.pulled_fields.values()),
                "inputs": [{"id": i} for i in ids[start:start + HISTORY_BATCH]]})
            by_id.update({r["id"]: r for r in body.get("results") or []})
        contacts = []
        for external_id in ids:
            raw = by_id.get(external_id)
            if raw is None:
                continue
            props = raw.get("properties") or {}
            history = raw.get("propertiesWithHistory") or {}
            changed = {}
            for name, source in self.pulled_fields.items():
                entries = history.get(source) or []
                if entries:
                    changed[name] = max(_when(e.get("timestamp")) for e in entries)
            modified = _when(props.get("lastmodifieddate")) or _when(raw.get("updatedAt")) or datetime.now(UTC)
            contacts.append(CrmContact(external_id=str(external_id), values=self.from_crm(props), modified_at=modified,
                                       field_modified_at=changed))
        return contacts

    def push_contacts(self, updates: list[ContactUpdate]) -> PushResult:
        result = PushResult()
        for start in range(0, len(updates), self.push_batch):
            batch = [u for u in updates[start:start + self.push_batch] if self.to_crm(u.values)]
            if not batch:
                continue
            response = self.http.request("POST", f"{API}/batch/update", json={
                "inputs": [{"id": u.external_id, "properties": {k: _text(v) for k, v in self.to_crm(u.values).items()}}
                           for u in batch]})
            body = json_or_empty(response)
            failed_ids = set()
            for error in body.get("errors") or []:
                ids = (error.get("context") or {}).get("ids") or [u.external_id for u in batch]
                for external_id in ids:
                    failed_ids.add(str(external_id))
                    result.failed.append((str(external_id), str(error.get("message", "rejected"))[:300]))
            result.pushed += len([u for u in batch if u.external_id not in failed_ids])
        return result

    def delete_contacts(self, external_ids: list[str]) -> PushResult:
        """HubSpot's GDPR delete (permanent, unlike archiving), one contact per call."""
        return self._delete_each(external_ids, lambda external_id: self.http.request(
            "POST", f"{API}/gdpr-delete", json={"objectId": external_id}))


def _text(value) -> str:
    return "" if value is None else str(value)
