"""Partial updates (PATCH): the one way a service takes the fields a request named.

    changes = changes_pick(data, {"name": str.strip, "url": net.public_url_validate, "events": None})
    changes_apply(webhook, changes)

`changes_pick` keeps the fields that `data` names, in the order given, each through its cleaner (None: as given); a
missing key means "leave it", a present null is a value. Cleaners validate and may raise. `changes_apply` sets the
picked values on a model instance (or updates a dict) and returns their names, e.g. for `save(update_fields=...)`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

Cleaner = Callable[[Any], Any] | None


def changes_pick(data: Mapping[str, Any], fields: Iterable[str] | Mapping[str, Cleaner]) -> dict[str, Any]:
    cleaners = fields if isinstance(fields, Mapping) else dict.fromkeys(fields)
    return {name: (clean(data[name]) if clean else data[name]) for name, clean in cleaners.items() if name in data}


def changes_apply(target: Any, changes: Mapping[str, Any]) -> list[str]:
    if isinstance(target, MutableMapping):
        target.update(changes)
    else:
        for name, value in changes.items():
            setattr(target, name, value)
    return list(changes)
