"""Funnel definitions: create, update, delete, with their steps validated.

A step is `{"event_type": "...", "name"?: "...", "where"?: [rule, ...]}`; `where` rules are the CDP segment
grammar's event-property rules (`{"field": "properties.utm_source", "operator": "in", "value": [...]}`), so a
funnel step filters events exactly like a segment's event rule does. A step naming an event type the tenant has
never tracked is refused (a typo would silently make an empty funnel).
"""
from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.db.models import Q

from cdp.models import Event
from cdp.segmentation.compiler import SegmentCompiler, _property_field, _Scope
from stratum.api.exceptions import ValidationFailed
from stratum.api.updates import changes_apply, changes_pick

from ..models import Funnel

EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/\-]{0,63}$")
MIN_STEPS, MAX_STEPS = 2, 10
MAX_RULES_PER_STEP = 10
MAX_WINDOW_DAYS = 90
STEP_KEYS = {"event_type", "name", "where"}


def step_filter(*, tenant, where: list, path: str, index: int) -> tuple[dict, Q]:
    """(aliases, predicate) over events for a step's property rules; 422 naming the bad rule."""
    compiler = SegmentCompiler(tenant=tenant)
    scope = _Scope(f"f{index}_")
    predicate = Q()
    for i, rule in enumerate(where):
        if not isinstance(rule, dict):
            compiler._fail(f"{path}.where[{i}]", "Must be a rule object (field, operator, value).")
            continue
        predicate &= compiler._field_rule(rule, f"{path}.where[{i}]", scope, _property_field)
    if compiler.errors:
        raise ValidationFailed(errors=compiler.errors)
    return scope.aliases, predicate


def steps_validate(*, tenant, steps) -> list[dict]:
    errors: dict[str, list[str]] = {}
    if not isinstance(steps, list) or not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise ValidationFailed(errors={"steps": [f"A funnel has {MIN_STEPS} to {MAX_STEPS} steps."]})
    cleaned = []
    for i, step in enumerate(steps):
        path = f"steps[{i}]"
        if not isinstance(step, dict):
            errors[path] = ["Must be an object with event_type (and optional name, where)."]
            continue
        unknown = set(step) - STEP_KEYS
        if unknown:
            errors[f"{path}.{sorted(unknown)[0]}"] = ["Unknown key in a step (event_type, name, where)."]
            continue
        event_type = step.get("event_type")
        if not isinstance(event_type, str) or not EVENT_TYPE_RE.match(event_type):
            errors[f"{path}.event_type"] = ["Must be an event type (1–64 letters, digits, space, _ . : / -)."]
            continue
        name = step.get("name") or event_type
        if not isinstance(name, str) or len(name) > 100:
            errors[f"{path}.name"] = ["Must be a string of at most 100 characters."]
            continue
        where = step.get("where") or []
        if not isinstance(where, list) or len(where) > MAX_RULES_PER_STEP:
            errors[f"{path}.where"] = [f"Must be a list of at most {MAX_RULES_PER_STEP} property rules."]
            continue
        try:
            step_filter(tenant=tenant, where=where, path=path, index=i)
        except ValidationFailed as exc:
            errors.update(exc.errors or {})
            continue
        cleaned.append({"name": name, "event_type": event_type, "where": where})
    if errors:
        raise ValidationFailed(errors=errors)
    known = set(Event.objects.for_tenant(tenant).filter(event_type__in={s["event_type"] for s in cleaned})
                .values_list("event_type", flat=True).distinct())
    for i, step in enumerate(cleaned):
        if step["event_type"] not in known:
            errors[f"steps[{i}].event_type"] = [f"Unknown event type {step['event_type']!r}: no event of this type "
                                                "has been tracked."]
    if errors:
        raise ValidationFailed(errors=errors)
    return cleaned


def _saved(funnel: Funnel) -> Funnel:
    try:
        with transaction.atomic():
            funnel.save()
    except IntegrityError:
        raise ValidationFailed(errors={"name": ["A funnel with this name exists."]}) from None
    return funnel


def funnel_create(*, tenant, name: str, steps, conversion_window_days: int = 7, description: str = "",
                  created_by=None) -> Funnel:
    funnel = Funnel(tenant=tenant, name=name, description=description, created_by=created_by,
                    steps=steps_validate(tenant=tenant, steps=steps), conversion_window_days=conversion_window_days)
    return _saved(funnel)


def funnel_update(*, tenant, funnel: Funnel, data: dict) -> Funnel:
    changes_apply(funnel, changes_pick(data, {"steps": lambda steps: steps_validate(tenant=tenant, steps=steps),
                                              "name": None, "description": None, "conversion_window_days": None}))
    return _saved(funnel)


def funnel_delete(*, tenant, funnel: Funnel) -> None:
    Funnel.objects.for_tenant(tenant).filter(pk=funnel.pk).delete()
