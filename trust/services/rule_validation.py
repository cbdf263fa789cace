"""Checking and normalizing a rule's conditions, actions and scope. Every problem is a 422 naming its path
(`conditions[1].operator`, `actions[0].percent`, `scope.client_id`)."""
from __future__ import annotations

import math
import uuid
from typing import Any

from accounts.models import User
from campaigns.models import Campaign, Platform
from campaigns.services import budget_clean
from stratum.api.exceptions import ValidationFailed
from workflow.models import Client, TaskPriority

from ..models import MoneyAction
from ..selectors.rules import CONDITION_FIELDS, LOOKBACKS, OPERATORS, REFERENCE_FIELDS, SCOPE_STATUSES
from .gate import INFORMATIONAL_ACTIONS

ACTION_TYPES = (*MoneyAction.values, *INFORMATIONAL_ACTIONS)
ACTION_KEYS = {
    "pause_campaign": {"notify"}, "activate_campaign": {"notify"},
    "increase_budget": {"percent", "notify"}, "decrease_budget": {"percent", "notify"},
    "set_budget": {"amount", "notify"}, "notify": {"message"},
    "create_task": {"title", "priority", "assignee_ids", "description"}, "send_webhook": set(),
}
STATUS_ACTIONS = ("pause_campaign", "activate_campaign")
BUDGET_ACTIONS = ("increase_budget", "decrease_budget", "set_budget")
SCOPE_TYPES = ("all", "platform", "campaigns", "client")
MAX_DEPTH = 4
MAX_CONDITIONS = 30
MAX_NODES = 4 * MAX_CONDITIONS  # conditions and groups together
MAX_ACTIONS = 10
MAX_VALUE = 1e12


class _TooLarge(Exception):
    """The tree passed a size bound: validation stops at once, so the answer names the bound, not every node."""


class _Errors(dict):
    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)


def _known(value: Any, catalogue) -> bool:
    """Whether a value from the body is one of a catalogue's names (a list or an object never is: they are not
    hashable, so a bare `in` on a dict catalogue would raise)."""
    return isinstance(value, str) and value in catalogue


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or abs(value) > MAX_VALUE:
        return None
    return value


def _leaf(raw: dict, path: str, errors: _Errors) -> dict:
    unknown = sorted(set(raw) - {"field", "operator", "value", "lookback"})
    for key in unknown:
        errors.add(f"{path}.{key}", "Unknown key of a condition.")
    field, operator, lookback = raw.get("field"), raw.get("operator"), raw.get("lookback")
    if not _known(field, CONDITION_FIELDS):
        errors.add(f"{path}.field", f"Unknown field {str(field)[:40]!r}. Known: {', '.join(CONDITION_FIELDS)}.")
    if not _known(operator, OPERATORS):
        errors.add(f"{path}.operator", f"Unknown operator {str(operator)[:40]!r}. Known: {', '.join(OPERATORS)}.")
    if lookback is not None and not _known(lookback, LOOKBACKS):
        errors.add(f"{path}.lookback", f"Unknown lookback {str(lookback)[:40]!r}. Known: {', '.join(LOOKBACKS)}.")
    value = raw.get("value")
    clean: Any = None
    if operator == "between":
        if (isinstance(value, list) and len(value) == 2 and all(_number(v) is not None for v in value)
                and value[0] <= value[1]):
            clean = [value[0], value[1]]
        else:
            errors.add(f"{path}.value", "between takes [low, high]: two numbers, low not above high.")
    elif isinstance(value, dict):
        extra = sorted(set(value) - {"field", "multiplier"})
        for key in extra:
            errors.add(f"{path}.value.{key}", "Unknown key: compare with {field, multiplier}.")
        multiplier = value.get("multiplier", 1)
        if not _known(value.get("field"), REFERENCE_FIELDS):
            errors.add(f"{path}.value.field", f"Unknown field {str(value.get('field'))[:40]!r}. "
                                              f"Known: {', '.join(REFERENCE_FIELDS)}.")
        if _number(multiplier) is None or not 0 < multiplier <= 1000:
            errors.add(f"{path}.value.multiplier", "A number above 0 and at most 1000.")
        clean = {"field": value.get("field"), "multiplier": multiplier}
    elif _number(value) is not None:
        clean = value
    else:
        errors.add(f"{path}.value", "A number, [low, high] for between, or {field, multiplier} to compare with "
                                    "another metric.")
    leaf = {"field": field, "operator": operator, "value": clean}
    if lookback is not None:
        leaf["lookback"] = lookback
    return leaf


def _node(raw: Any, path: str, depth: int, errors: _Errors, count: list[int]) -> dict:
    count[1] += 1
    if count[0] > MAX_CONDITIONS or count[1] > MAX_NODES:
        raise _TooLarge
    written_as_list = isinstance(raw, list)
    if written_as_list:
        raw = {"operator": "and", "conditions": raw}
    if not isinstance(raw, dict):
        errors.add(path, "A condition {field, operator, value} or a group {operator: and|or, conditions: [...]}.")
        return {}
    if "conditions" not in raw:
        count[0] += 1
        return _leaf(raw, path, errors)
    if depth >= MAX_DEPTH:
        errors.add(path, f"Groups nest at most {MAX_DEPTH} deep.")
        return {}
    for key in sorted(set(raw) - {"operator", "conditions"}):
        errors.add(f"{path}.{key}", "Unknown key of a group.")
    operator = raw.get("operator", "and")
    if not _known(operator, ("and", "or")):
        errors.add(f"{path}.operator", "A group's operator is and or or.")
    children = raw["conditions"]
    if not isinstance(children, list) or not children:
        errors.add(f"{path}.conditions", "A non-empty list of conditions.")
        return {}
    nodes = [_node(child, f"{path}.conditions[{i}]" if depth else f"{path}[{i}]", depth + 1, errors, count)
             for i, child in enumerate(children)]
    # What is written in the reference's shape (a plain list: all must hold) reads back in it.
    return nodes if written_as_list else {"operator": operator, "conditions": nodes}


def conditions_clean(raw: Any) -> dict | list:
    errors, count = _Errors(), [0, 0]  # conditions, nodes
    if raw in (None, [], {}):
        raise ValidationFailed(errors={"conditions": ["At least one condition."]})
    try:
        node = _node(raw, "conditions", 0, errors, count)
    except _TooLarge:
        raise ValidationFailed(errors={"conditions": [
            f"At most {MAX_CONDITIONS} conditions (and {MAX_NODES} conditions and groups together)."]}) from None
    if count[0] > MAX_CONDITIONS:
        errors.add("conditions", f"At most {MAX_CONDITIONS} conditions.")
    if errors:
        raise ValidationFailed(errors=dict(errors))
    return node


def _assignees(*, tenant, raw: Any, path: str, errors: _Errors) -> list[str]:
    if not isinstance(raw, list) or len(raw) > 20:
        errors.add(path, "A list of at most 20 user ids.")
        return []
    try:
        ids = [str(uuid.UUID(str(v))) for v in raw]
    except ValueError:
        errors.add(path, "Not valid user ids.")
        return []
    found = {str(pk) for pk in User.objects.filter(tenant=tenant, is_active=True, pk__in=ids).values_list("pk",
                                                                                                        flat=True)}
    missing = [i for i in ids if i not in found]
    if missing:
        errors.add(path, f"User {missing[0]} is not an active user of this tenant.")
    return ids


def _action(*, tenant, raw: Any, path: str, cap: int, errors: _Errors) -> dict:
    if not isinstance(raw, dict):
        errors.add(path, "An action {type, …}.")
        return {}
    kind = raw.get("type")
    if not _known(kind, ACTION_TYPES):
        errors.add(f"{path}.type", f"Unknown action {str(kind)[:40]!r}. Known: {', '.join(ACTION_TYPES)}.")
        return {}
    for key in sorted(set(raw) - ACTION_KEYS[kind] - {"type"}):
        errors.add(f"{path}.{key}", f"Not an option of {kind}.")
    action: dict[str, Any] = {"type": kind}
    if "notify" in ACTION_KEYS[kind]:
        notify = raw.get("notify", False)
        if not isinstance(notify, bool):
            errors.add(f"{path}.notify", "true or false.")
        action["notify"] = notify is True
    if kind in ("increase_budget", "decrease_budget"):
        percent = _number(raw.get("percent"))
        if percent is None or percent <= 0:
            errors.add(f"{path}.percent", "A percentage above 0.")
        elif percent > cap:
            errors.add(f"{path}.percent", f"At most {cap} %: the autopilot's max_budget_change_percent.")
        action["percent"] = percent
    elif kind == "set_budget":
        try:
            action["amount"] = float(budget_clean(raw.get("amount"), field=f"{path}.amount"))
        except ValidationFailed as exc:
            for key, messages in (exc.errors or {}).items():
                for message in messages:
                    errors.add(key, message)
    elif kind == "notify":
        message = raw.get("message", "")
        if not isinstance(message, str) or len(message) > 500:
            errors.add(f"{path}.message", "A text of at most 500 characters.")
        action["message"] = message if isinstance(message, str) else ""
    elif kind == "create_task":
        for key, limit in (("title", 200), ("description", 2000)):
            text = raw.get(key, "")
            if not isinstance(text, str) or len(text) > limit:
                errors.add(f"{path}.{key}", f"A text of at most {limit} characters.")
            action[key] = text if isinstance(text, str) else ""
        priority = raw.get("priority", "Medium")
        if not _known(priority, TaskPriority.values):
            errors.add(f"{path}.priority", f"One of {', '.join(TaskPriority.values)}.")
        action["priority"] = priority
        action["assignee_ids"] = _assignees(tenant=tenant, raw=raw.get("assignee_ids", []),
                                            path=f"{path}.assignee_ids", errors=errors)
    return action


def actions_clean(*, tenant, raw: Any, cap: int, scope: dict) -> list[dict]:
    errors = _Errors()
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed(errors={"actions": ["A non-empty list of actions."]})
    if len(raw) > MAX_ACTIONS:
        raise ValidationFailed(errors={"actions": [f"At most {MAX_ACTIONS} actions."]})
    actions = [_action(tenant=tenant, raw=item, path=f"actions[{i}]", cap=cap, errors=errors)
               for i, item in enumerate(raw)]
    for group in (STATUS_ACTIONS, BUDGET_ACTIONS):
        positions = [i for i, a in enumerate(actions) if a.get("type") in group]
        for i in positions[1:]:
            kind = "status" if group == STATUS_ACTIONS else "budget"
            errors.add(f"actions[{i}].type", f"One {kind} action per rule.")
    for i, action in enumerate(actions):
        if action.get("type") == "activate_campaign" and scope.get("campaign_status") == "active":
            errors.add(f"actions[{i}].type", "activate_campaign needs scope.campaign_status paused or any.")
    if errors:
        raise ValidationFailed(errors=dict(errors))
    return actions


def scope_clean(*, tenant, raw: Any) -> dict:
    if raw in (None, {}):
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationFailed(errors={"scope": ["An object {type, …}."]})
    errors = _Errors()
    kind = raw.get("type", "all")
    status = raw.get("campaign_status", "active")
    allowed = {"type", "campaign_status", {"platform": "platform", "campaigns": "campaign_ids",
                                           "client": "client_id"}.get(kind if isinstance(kind, str) else "", "type")}
    for key in sorted(set(raw) - allowed):
        errors.add(f"scope.{key}", "Not an option of this scope type.")
    if not _known(kind, SCOPE_TYPES):
        errors.add("scope.type", f"One of {', '.join(SCOPE_TYPES)}.")
    if not _known(status, SCOPE_STATUSES):
        errors.add("scope.campaign_status", f"One of {', '.join(SCOPE_STATUSES)}.")
    scope: dict[str, Any] = {"type": kind, "campaign_status": status}
    if kind == "platform":
        if not _known(raw.get("platform"), Platform.values):
            errors.add("scope.platform", f"One of {', '.join(Platform.values)}.")
        scope["platform"] = raw.get("platform")
    elif kind == "campaigns":
        ids = raw.get("campaign_ids")
        try:
            ids = [str(uuid.UUID(str(i))) for i in ids] if isinstance(ids, list) and 0 < len(ids) <= 500 else None
        except ValueError:
            ids = None
        if ids is None:
            errors.add("scope.campaign_ids", "A list of 1 to 500 campaign ids.")
        else:
            found = {str(pk) for pk in Campaign.objects.for_tenant(tenant).filter(pk__in=ids).values_list("pk",
                                                                                                      flat=True)}
            missing = [i for i in ids if i not in found]
            if missing:
                errors.add("scope.campaign_ids", f"No campaign {missing[0]}.")
            scope["campaign_ids"] = sorted(set(ids))
    elif kind == "client":
        try:
            client_id = str(uuid.UUID(str(raw.get("client_id"))))
        except ValueError:
            client_id = None
        if client_id is None or not Client.objects.for_tenant(tenant).filter(pk=client_id).exists():
            errors.add("scope.client_id", "No client with this id.")
        scope["client_id"] = client_id
    if errors:
        raise ValidationFailed(errors=dict(errors))
    return scope
