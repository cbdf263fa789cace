"""What the apps above cdp hold about a person, reached without cdp importing them.

Lead links (workflow), CRM sync state (integrations) and churn predictions (analytics) live in apps that stand above
cdp. Each registers here in its AppConfig.ready:

- `erase(tenant=, profile_ids=, identifiers=) -> {name: rows deleted}`: called inside the erasure's transaction,
  before the profiles are deleted (`identifiers`: the person's (type, value) pairs);
- `export(tenant=, profile_ids=, identifiers=) -> {section: [rows]}`: what a subject export shows of the app's data;
- `audit(tenant=, request=, decision=)`: writes an audit record of a privacy request (ids, type and counts only).
"""
from __future__ import annotations

from collections.abc import Callable

Hook = Callable[..., dict]

_erase: dict[str, Hook] = {}
_export: dict[str, Hook] = {}
_audit: list[Callable[..., None]] = []


def privacy_hooks_register(name: str, *, erase: Hook | None = None, export: Hook | None = None) -> None:
    if erase is not None:
        _erase[name] = erase
    if export is not None:
        _export[name] = export


def privacy_audit_register(writer: Callable[..., None]) -> None:
    _audit[:] = [writer]


def erase_elsewhere(*, tenant, profile_ids: list, identifiers: set) -> dict:
    counts: dict = {}
    for _, hook in sorted(_erase.items()):
        counts.update(hook(tenant=tenant, profile_ids=profile_ids, identifiers=identifiers))
    return counts


def export_elsewhere(*, tenant, profile_ids: list, identifiers: set) -> dict:
    sections: dict = {}
    for _, hook in sorted(_export.items()):
        sections.update(hook(tenant=tenant, profile_ids=profile_ids, identifiers=identifiers))
    return sections


def privacy_audit(*, tenant, request, decision: str) -> None:
    for writer in _audit:
        writer(tenant=tenant, request=request, decision=decision)
