"""The fuzzed tenant: one or two rows of every tenant-owned model (from every app's factories), a JWT owner
and an API key with every scope — and, per API operation, the real ids its path and query parameters can take.

Random UUIDs only ever reach the "not found" branch of a detail view; the hooks in test_schema_fuzz.py mix
these ids into the generated values so the fuzzer also reaches real objects (retrieve, update, actions).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from django.apps import apps
from django.db import IntegrityError, transaction
from django.urls import Resolver404, resolve

from accounts.services import api_key_create, tokens_for_user
from stratum.api.permissions import SCOPES
from stratum.api.tenancy import TenantOwned
from tests.accounts.factories import TenantFactory, UserFactory
from tests.factories import all_factories

ROWS_PER_MODEL = 2
ID_PARAM = re.compile(r"(^pk$|^id$|_id$|^uuid$)")


@dataclass
class FuzzWorld:
    tenant: object
    owner: object
    jwt: str
    api_key: str
    ids_by_model: dict[type, list[str]] = field(default_factory=dict)

    def ids_for_param(self, name: str, view_model: type | None) -> list[str]:
        """Real ids for a parameter: the view's own model for `id`/`pk`, the named model for `<thing>_id`."""
        if name in ("id", "pk", "uuid"):
            if view_model is not None and view_model in self.ids_by_model:
                return self.ids_by_model[view_model]
            return self.all_ids()
        stem = name[:-3].replace("_", "").lower()
        found = [pk for model, pks in self.ids_by_model.items()
                 if model.__name__.lower().endswith(stem) for pk in pks]
        return found or self.all_ids()

    def all_ids(self) -> list[str]:
        return [pk for pks in self.ids_by_model.values() for pk in pks[:1]]


def tenant_owned_models() -> list[type]:
    return [m for m in apps.get_models() if issubclass(m, TenantOwned) and not m._meta.abstract]


def build_world() -> FuzzWorld:
    tenant = TenantFactory(plan="enterprise", name="Fuzz Agency", slug="fuzz-agency",
                           settings={"timezone": "Europe/Berlin", "currency": "EUR"})
    owner = UserFactory(tenant=tenant, role="owner", email="fuzz-owner@example.com", name="Fuzz Owner")
    UserFactory(tenant=tenant, role="manager", email="fuzz-manager@example.com", name="Fuzz Manager")
    factories = all_factories()
    for model in tenant_owned_models():
        factory = factories.get(model)
        if factory is None:  # the isolation walker fails on this; the fuzzer just has fewer real ids
            continue
        for _ in range(ROWS_PER_MODEL):
            try:
                with transaction.atomic():
                    factory(tenant=tenant)
            except IntegrityError:  # one row per tenant (billing customer, settings rows)
                break
    _, raw_key = api_key_create(tenant=tenant, created_by=owner, name="fuzz key", permissions=list(SCOPES),
                                expires_at=None)
    world = FuzzWorld(tenant=tenant, owner=owner, jwt=tokens_for_user(user=owner)["access_token"], api_key=raw_key)
    for model in tenant_owned_models():
        pks = [str(pk) for pk in model.objects.for_tenant(tenant).order_by("pk").values_list("pk", flat=True)[:10]]
        if pks:
            world.ids_by_model[model] = pks
    user_model = type(owner)
    world.ids_by_model[user_model] = [str(pk) for pk in user_model.objects.filter(tenant=tenant)
                                      .order_by("pk").values_list("pk", flat=True)]
    return world


def view_model_for(path_template: str) -> type | None:
    """The model behind the view serving an OpenAPI path like /api/v1/campaigns/{id}/performance."""
    sample = re.sub(r"\{[^}]+\}", lambda m: _sample_value(m.group(0)[1:-1]), path_template)
    try:
        match = resolve(sample)
    except Resolver404:
        return None
    cls = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
    if cls is None:
        return None
    model = getattr(cls, "model", None)
    if model is None and getattr(cls, "queryset", None) is not None:
        model = cls.queryset.model
    return model


def _sample_value(name: str) -> str:
    return str(uuid.UUID(int=0)) if ID_PARAM.search(name) else "meta"
