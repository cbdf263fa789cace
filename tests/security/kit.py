"""Shared tools of the hostile-input suite.

Routes are discovered the way the isolation walker discovers them (its functions are imported, not copied), so a
route added later is attacked without editing the suite. The OpenAPI schema (generated in-process, once) says which
query parameters and body fields each operation documents.
"""
from __future__ import annotations

import functools
import re
import uuid

from django.apps import apps
from rest_framework.permissions import AllowAny

from stratum.api.permissions import required_scopes_for
from tests.api.test_tenant_isolation import (
    ID_PARAM,
    STRING_PARAM_VALUES,
    allowed_methods,
    api_routes,
    leaked,
    tenant_owned_models,
    view_model,
)

__all__ = ["ID_PARAM", "allowed_methods", "api_routes", "leaked", "tenant_owned_models", "view_model",
           "Route", "routes", "own_url", "own_query", "operation", "query_params", "body_fields", "is_error_format",
           "needed_scopes", "tenant_rows"]

WRITE_METHODS = ("POST", "PUT", "PATCH")
# Path parameters that name another model than the view's own.
PARAM_MODELS = {
    "client_id": "workflow.Client", "task_id": "workflow.Task", "alert_id": "workflow.Alert",
    "instance_id": "workflow.AlertInstance", "comment_id": "workflow.TaskComment",
    "delivery_id": "webhooks.WebhookDelivery", "ad_account_id": "campaigns.AdAccount", "user_id": "accounts.User",
}


class Route:
    def __init__(self, template: str, params: list[str], callback):
        self.template, self.params, self.callback = template, params, callback
        self.cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        self.methods = allowed_methods(callback)
        self.model = view_model(callback)

    def __repr__(self) -> str:
        return f"Route({self.template})"

    @property
    def is_public(self) -> bool:
        """Answers without credentials (login, register, OAuth callback, Stripe webhook, health)."""
        return any(p is AllowAny or (isinstance(p, type) and issubclass(p, AllowAny))
                   for p in getattr(self.cls, "permission_classes", []))

    @property
    def is_superadmin(self) -> bool:
        return "/superadmin/" in self.template

    def action_for(self, method: str) -> str | None:
        actions = getattr(self.callback, "actions", None) or {}
        return actions.get(method.lower())


@functools.lru_cache(maxsize=1)
def _routes() -> tuple[Route, ...]:
    return tuple(Route(t, p, cb) for t, p, cb in api_routes())


def routes() -> tuple[Route, ...]:
    return _routes()


def needed_scopes(route: Route, method: str) -> list[str] | None:
    """The scopes an API key needs for this call; None: closed to API keys."""
    view = route.cls()
    view.action = route.action_for(method)
    return required_scopes_for(view, method)


def _model(label: str):
    return apps.get_model(label)


def own_url(route: Route, objects: dict) -> str | None:
    """The route filled with the ids of objects the caller's tenant owns (None when it needs one we lack)."""
    values: dict[str, str] = {}
    names = set(route.params)
    for name in route.params:
        if not ID_PARAM.search(name):
            values[name] = STRING_PARAM_VALUES.get(name, "meta")
            continue
        model = route.model if name in ("pk", "id") else _model(PARAM_MODELS[name]) if name in PARAM_MODELS else None
        if model is None or model not in objects:
            return None
        values[name] = str(objects[model].pk)
    # Nested routes name a parent and a child: take both from the child.
    if {"client_id", "user_id"} <= names:
        membership = objects[_model("workflow.ClientMembership")]
        values["client_id"], values["user_id"] = str(membership.client_id), str(membership.user_id)
    if {"pk", "delivery_id"} <= names:
        values["pk"] = str(objects[_model("webhooks.WebhookDelivery")].webhook_id)
    if {"client_id", "ad_account_id"} <= names:
        account = objects[_model("campaigns.AdAccount")]
        if account.client_id:
            values["client_id"] = str(account.client_id)
    url = route.template
    for name, value in values.items():
        url = url.replace("{" + name + "}", value)
    return url


def own_query(route: Route, method: str, objects: dict) -> str:
    """`?client_id=…` for the required id query parameters an operation documents (filled with own objects)."""
    parts = []
    for param in (operation(route, method) or {}).get("parameters", []):
        name = param.get("name", "")
        if param.get("in") == "query" and param.get("required") and name in PARAM_MODELS:
            model = _model(PARAM_MODELS[name])
            if model in objects:
                parts.append(f"{name}={objects[model].pk}")
    return ("?" + "&".join(parts)) if parts else ""


# --- the OpenAPI schema ----------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def operation(route: Route, method: str) -> dict | None:
    paths = schema()["paths"]
    path = re.sub(r"\{pk\}", "{id}", route.template)
    entry = paths.get(path) or paths.get(route.template) or {}
    return entry.get(method.lower())


def query_params(route: Route, method: str = "GET") -> list[str]:
    op = operation(route, method) or {}
    return [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = schema()["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def body_fields(route: Route, method: str) -> set[str] | None:
    """The documented body fields of an operation (None: it documents no body)."""
    op = operation(route, method) or {}
    content = (op.get("requestBody") or {}).get("content") or {}
    fields: set[str] = set()
    found = False
    for media in content.values():
        node = _resolve(media.get("schema") or {})
        for part in [node, *[_resolve(p) for p in node.get("allOf", [])]]:
            if "properties" in part:
                found = True
                fields |= set(part["properties"])
            if part.get("type") == "object" and "properties" not in part:
                found = True  # a free-form object
    return fields if found else None


# --- assertions --------------------------------------------------------------------------------

def is_error_format(response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return (isinstance(body, dict) and {"detail", "code", "status_code", "message"} <= set(body)
            and body["status_code"] == response.status_code)


def tenant_rows(tenant) -> dict[str, int]:
    """Row counts of every tenant-owned model for one tenant (what an attack must not change)."""
    return {m.__name__: m.objects.for_tenant(tenant).count() for m in tenant_owned_models()}


def random_id() -> str:
    return str(uuid.uuid4())
