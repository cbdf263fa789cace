"""The isolation walker: every registered API route, called by tenant B (a JWT owner and an API key
with every scope) against tenant A's objects, must leak nothing.

It discovers routes from the URL resolver and objects from every factory in tests/<app>/factories.py,
so routes and models added later are covered without editing this file. A tenant-owned model
without a factory fails the test.
"""
from __future__ import annotations

import json
import re
import uuid

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from stratum.api.tenancy import TenantOwned
from tests.accounts.factories import TenantFactory, UserFactory
from tests.factories import all_factories
from tests.helpers import client_for, key_client_for

ID_PARAM = re.compile(r"(^pk$|^id$|_id$|^uuid$)")
STRING_PARAM_VALUES = {"platform": "meta", "provider": "hubspot"}
QUERY_ID_PARAMS = ("client_id", "campaign_id", "profile_id", "segment_id", "alert_id", "ad_account_id",
                   "funnel_id", "account_id", "assignee_id", "audience_id", "report_id", "rule_id", "user_id")
DENIED = {403, 404, 405}


def tenant_owned_models():
    return [m for m in apps.get_models() if issubclass(m, TenantOwned) and not m._meta.abstract]


def walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def to_template(route: str) -> tuple[str, list[str]]:
    """'api/v1/^users/(?P<pk>[^/.]+)/?$' or 'api/v1/users/<uuid:pk>' -> ('/api/v1/users/{pk}', ['pk'])."""
    route = route.replace("^", "").replace("$", "").replace("/?", "")
    params: list[str] = []

    def regex_group(match):
        params.append(match.group(1))
        return "{" + match.group(1) + "}"

    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", regex_group, route)

    def converter(match):
        params.append(match.group(2))
        return "{" + match.group(2) + "}"

    route = re.sub(r"<(?:(\w+):)?(\w+)>", converter, route)
    return "/" + route.lstrip("/"), params


def api_routes():
    seen = set()
    for route, callback in walk(get_resolver().url_patterns):
        template, params = to_template(route)
        if not template.startswith("/api/v1/") or "(" in template or template in seen:
            continue
        seen.add(template)
        yield template, params, callback


def view_model(callback):
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None:
        return None
    model = getattr(cls, "model", None)
    if model is None and getattr(cls, "queryset", None) is not None:
        model = cls.queryset.model
    return model


def allowed_methods(callback) -> list[str]:
    actions = getattr(callback, "actions", None)
    if actions:
        # DRF adds "head" to a viewset's actions once it has been called; HEAD mirrors GET.
        return [m.upper() for m in actions if m not in ("head", "options")]
    cls = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    return [m.upper() for m in ("get", "post", "put", "patch", "delete") if cls is not None and hasattr(cls, m)]


@pytest.fixture
def world(db, settings):
    settings.RATELIMIT_ENABLED = False
    tenant_a = TenantFactory(plan="enterprise")
    owner_a = UserFactory(tenant=tenant_a, role="owner")
    factories = all_factories()
    missing = [m.__name__ for m in tenant_owned_models() if m not in factories]
    assert not missing, f"tenant-owned models without a factory in tests/<app>/factories.py: {missing}"
    objects: dict[type, object] = {}
    for model in tenant_owned_models():
        objects[model] = factories[model](tenant=tenant_a)
    a_ids = {str(owner_a.pk), str(tenant_a.pk)}
    for model in tenant_owned_models():
        a_ids.update(str(pk) for pk in model.objects.for_tenant(tenant_a).values_list("pk", flat=True))
    counts = {model: model.objects.for_tenant(tenant_a).count() for model in tenant_owned_models()}
    objects[type(owner_a)] = owner_a  # users are tenant rows too (the User model is not TenantOwned)
    tenant_b = TenantFactory(plan="enterprise")
    owner_b = UserFactory(tenant=tenant_b, role="owner")
    return {
        "tenant_a": tenant_a, "owner_a": owner_a, "objects": objects, "a_ids": a_ids, "counts": counts,
        "clients_b": {"jwt": client_for(owner_b), "api_key": key_client_for(owner_b)},
        "client_a": client_for(owner_a),
    }


def fill(template: str, params: list[str], values: dict[str, str]) -> str:
    url = template
    for name in params:
        url = url.replace("{" + name + "}", values[name])
    return url


def leaked(body: bytes, a_ids: set[str]) -> set[str]:
    text = body.decode(errors="replace")
    return {i for i in a_ids if i in text}


def test_every_route_is_walked_and_nothing_leaks(world):
    a_ids = world["a_ids"]
    objects = world["objects"]
    findings: list[str] = []
    walked = detail_checks = list_checks = 0
    for template, params, callback in api_routes():
        walked += 1
        methods = allowed_methods(callback)
        model = view_model(callback)
        id_params = [p for p in params if ID_PARAM.search(p)]
        if not params:
            if "GET" not in methods:
                continue
            for name, client in world["clients_b"].items():
                urls = [template] + [f"{template}?{q}={i}" for q in QUERY_ID_PARAMS
                                     for i in _ids_for_query(q, objects)]
                for url in urls:
                    response = client.get(url)
                    list_checks += 1
                    assert response.status_code < 500, (url, response.status_code, response.content[:300])
                    if leaks := leaked(response.content, a_ids):
                        findings.append(f"{name} GET {url} shows tenant A ids {sorted(leaks)[:3]}")
            continue
        candidates = _candidate_ids(model, objects)
        for candidate in candidates:
            values = {p: (candidate if ID_PARAM.search(p) else STRING_PARAM_VALUES.get(p, "meta")) for p in params}
            url = fill(template, params, values)
            if not id_params:
                continue
            for name, client in world["clients_b"].items():
                for method in methods:
                    response = client.generic(method, url, data=json.dumps({}), content_type="application/json")
                    detail_checks += 1
                    if response.status_code not in DENIED:
                        findings.append(f"{name} {method} {url} -> {response.status_code} (expected 404)")
                    elif leaks := leaked(response.content, a_ids - {candidate}):
                        findings.append(f"{name} {method} {url} error body shows tenant A ids {sorted(leaks)[:3]}")
        if model is not None and "GET" in methods and id_params and _is_plain_detail(callback):
            # The walk is meaningful only if A itself can see the object B was refused.
            values = {p: candidates[0] if ID_PARAM.search(p) else STRING_PARAM_VALUES.get(p, "meta") for p in params}
            own = world["client_a"].get(fill(template, params, values))
            assert own.status_code == 200, (template, own.status_code, own.content[:300])
    for model, count in world["counts"].items():
        assert model.objects.for_tenant(world["tenant_a"]).count() == count, f"tenant B changed A's {model.__name__} rows"
    print(f"\nisolation walker: {walked} routes, {detail_checks} detail calls, {list_checks} list calls, "
          f"{len(findings)} leaks")
    assert not findings, "\n".join(findings)
    assert walked > 10


def _is_plain_detail(callback) -> bool:
    actions = getattr(callback, "actions", None) or {}
    return actions.get("get") == "retrieve"


def _candidate_ids(model, objects) -> list[str]:
    if model is not None and model in objects:
        return [str(objects[model].pk)]
    # Unknown model: try one object of every tenant-owned model, and a random id.
    return [str(obj.pk) for obj in objects.values()] + [str(uuid.uuid4())]


def _ids_for_query(param: str, objects) -> list[str]:
    stem = param[:-3].replace("_", "")
    return [str(obj.pk) for model, obj in objects.items() if model.__name__.lower().endswith(stem)][:1]
