"""Tenant scoping that cannot be forgotten.

Every tenant-owned model inherits `TenantOwned`. Its default manager is fail-closed: it returns the
rows of the tenant currently in scope (a context variable set by the API base view, Celery tasks and
commands) and raises `TenantScopeMissing` when no tenant is in scope. The explicit escape hatches are
`Model.objects.for_tenant(tenant)` and `Model.objects.unscoped()`: grep for them.
"""
from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterator

from django.db import models

from .principals import Tenant

_current_tenant: contextvars.ContextVar = contextvars.ContextVar("stratum_tenant", default=None)


class TenantScopeMissing(RuntimeError):
    """A tenant-owned table was queried with no tenant in scope."""


def current_tenant() -> Tenant | None:
    tenant = _current_tenant.get()
    return None if tenant is ALL_TENANTS else tenant


@contextlib.contextmanager
def tenant_scope(tenant: Tenant) -> Iterator[Tenant]:
    if tenant is None:
        raise TenantScopeMissing("tenant_scope() needs a tenant")
    token = _current_tenant.set(tenant)
    try:
        yield tenant
    finally:
        _current_tenant.reset(token)


def activate_tenant(tenant: Tenant | None) -> contextvars.Token:
    return _current_tenant.set(tenant)


def deactivate_tenant(token: contextvars.Token) -> None:
    _current_tenant.reset(token)


class _AllTenants:
    """Scope marker for the staff console: every tenant's rows, deliberately."""

    pk = None

    def __repr__(self) -> str:
        return "<all tenants>"


ALL_TENANTS = _AllTenants()


@contextlib.contextmanager
def all_tenants_scope() -> Iterator[None]:
    """Staff-only scope (Django admin, platform jobs): managers return every tenant's rows."""
    token = _current_tenant.set(ALL_TENANTS)
    try:
        yield
    finally:
        _current_tenant.reset(token)


class TenantManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        tenant = _current_tenant.get()
        if tenant is ALL_TENANTS:
            return super().get_queryset()
        if tenant is None:
            raise TenantScopeMissing(
                f"{self.model.__name__}.objects used with no tenant in scope; "
                "use tenant_scope(), .for_tenant(t) or .unscoped()"
            )
        return super().get_queryset().filter(tenant_id=tenant.pk)

    def none(self) -> models.QuerySet:
        """An empty queryset needs no scope (schema generation, filter introspection)."""
        return super().get_queryset().none()

    def for_tenant(self, tenant: Tenant) -> models.QuerySet:
        if tenant is None:
            raise TenantScopeMissing("for_tenant() needs a tenant")
        return super().get_queryset().filter(tenant_id=getattr(tenant, "pk", tenant))

    def unscoped(self) -> models.QuerySet:
        """Every tenant's rows. Only for staff tools, cross-tenant jobs and factories."""
        return super().get_queryset()


class TenantOwned(models.Model):
    """Abstract base of every row that belongs to a tenant."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+", editable=False)

    objects = TenantManager()

    class Meta:
        abstract = True
