"""The CRM connector interface: contacts pulled since a cursor, updates pushed back, a field mapping.

Fields are named in Stratum's words (`email`, `first_name`, `lifecycle_stage`, a CDP trait such as
`ltv` …); each connector maps them to its CRM's fields (`default_field_map`, extended or overridden
per connection by `Connection.settings["field_mapping"]`). Timestamps are timezone-aware UTC.
"""
from __future__ import annotations

import abc
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from campaigns.connectors.base import ConnectorAuthError, ConnectorError

from ..connection_client import ConnectionClient
from ..errors import CRM_MAPPING_INVALID, PLATFORM_NOT_FOUND

IDENTIFIER_FIELDS = ("email", "phone")
# Computed in the CDP (purchases, RFM, segments): pushed to the CRM, never pulled back into the profile.
PUSH_ONLY_FIELDS = ("ltv", "total_orders", "rfm_segment", "segments")
FIELD_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,99}$")


@dataclass(frozen=True)
class CrmContact:
    external_id: str
    values: dict[str, Any]  # Stratum field -> the CRM's value
    modified_at: datetime
    field_modified_at: dict[str, datetime] = field(default_factory=dict)  # where the CRM reports it per field

    def changed_at(self, name: str) -> datetime:
        return self.field_modified_at.get(name) or self.modified_at


@dataclass(frozen=True)
class ContactUpdate:
    external_id: str
    values: dict[str, Any]  # Stratum field -> new value (the connector maps and formats)


@dataclass
class PushResult:
    pushed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (external_id, reason)


class CrmConnector(ConnectionClient, abc.ABC):
    provider = ""
    default_field_map: dict[str, str] = {}
    # Stratum lifecycle stage <-> CRM value (only where the CRM has such a field).
    lifecycle_in: dict[str, str] = {}
    lifecycle_out: dict[str, str] = {}
    push_batch = 100

    def __init__(self, connection):
        self.bind(connection)
        settings = connection.settings or {}
        mapping = {**self.default_field_map, **(settings.get("field_mapping") or {})}
        if settings.get("segments_field"):
            mapping["segments"] = settings["segments_field"]
        for _name, target in mapping.items():
            if not FIELD_NAME_RE.match(str(target)):
                raise ConnectorError(f"Invalid CRM field name in the mapping: {str(target)[:40]!r}.",
                                     code=CRM_MAPPING_INVALID)
        self.field_map = {k: v for k, v in mapping.items() if v}

    @property
    def pulled_fields(self) -> dict[str, str]:
        return {k: v for k, v in self.field_map.items() if k not in PUSH_ONLY_FIELDS}

    @abc.abstractmethod
    def pull_contacts(self, *, since: datetime | None) -> Iterator[CrmContact]:
        """Contacts modified at or after `since` (all when None), oldest change first."""

    @abc.abstractmethod
    def push_contacts(self, updates: list[ContactUpdate]) -> PushResult:
        """Writes the given values to existing CRM contacts; per-contact failures are reported, not raised."""

    @abc.abstractmethod
    def delete_contacts(self, external_ids: list[str]) -> PushResult:
        """Deletes these contacts at the CRM (a data subject's erasure in Stratum); one already gone counts as
        deleted; other per-contact failures are reported, not raised."""

    def _delete_each(self, external_ids: list[str], delete) -> PushResult:
        """`delete(external_id)` per contact: a 404 is success (nothing left to delete), other refusals are recorded."""
        result = PushResult()
        for external_id in external_ids:
            try:
                delete(external_id)
            except ConnectorError as exc:
                if exc.retryable or isinstance(exc, ConnectorAuthError):
                    raise
                if exc.code != PLATFORM_NOT_FOUND:
                    result.failed.append((external_id, str(exc)[:300]))
                    continue
            result.pushed += 1
        return result

    def to_crm(self, values: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in values.items():
            target = self.field_map.get(name)
            if not target:
                continue
            if name == "lifecycle_stage":
                value = self.lifecycle_out.get(str(value))
                if value is None:
                    continue
            if name == "segments" and isinstance(value, list):
                value = "; ".join(value)
            out[target] = value
        return out

    def from_crm(self, raw: dict[str, Any]) -> dict[str, Any]:
        values = {}
        for name, source in self.pulled_fields.items():
            value = raw.get(source)
            if name == "lifecycle_stage" and value is not None:
                value = self.lifecycle_in.get(str(value).lower())
            if value in (None, ""):
                continue
            values[name] = value
        return values
