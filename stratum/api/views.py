"""The tenant-scoped view bases every app builds on.

`TenantAPIView` / `TenantViewSet` / `TenantModelViewSet` own `get_queryset()` and `get_object()`;
subclasses may not override them (TypeError at import) and implement `scoped_queryset()` instead.
The queryset is always filtered by the request's tenant (from the authenticated principal, never
from the request body or query), the tenant is put in scope for the fail-closed managers for the
duration of the request, and the tenant is set on create. Another tenant's row is a plain 404.
"""
from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import mixins, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from .exceptions import NotFound
from .permissions import FeatureGatePermission, TenantRolePermission, VerifiedEmailPermission
from .tenancy import activate_tenant, deactivate_tenant

OWNED_METHODS = ("get_queryset", "get_object")


class TenantContextMixin:
    """Puts the authenticated principal's tenant in scope for the whole request."""

    def dispatch(self, request, *args, **kwargs):
        token = activate_tenant(None)
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            deactivate_tenant(token)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            # Authenticated but tenant-less principals (platform staff) have no tenant data.
            raise NotFound("This endpoint needs a tenant user.")
        activate_tenant(tenant)

    @property
    def tenant(self):
        return self.request.tenant


class TenantScopedMixin(TenantContextMixin):
    model = None  # or set `queryset`

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in OWNED_METHODS:
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} may not override {name}(); implement scoped_queryset() instead")

    def scoped_queryset(self) -> QuerySet:
        """Subclass hook: the rows this view works on (filtering, annotations, select_related)."""
        if self.queryset is not None:
            return self.queryset.all()
        return self.model.objects.all()

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no request, no tenant
            return (self.model or self.queryset.model)._base_manager.none()
        queryset = self.scoped_queryset()
        return queryset.filter(tenant_id=self.request.tenant.pk)

    def get_object(self):
        return GenericAPIView.get_object(self)

    def perform_create(self, serializer):
        serializer.save(tenant=self.request.tenant)


# Roles, the plan's features, and a verified e-mail for the methods a view lists in `verified_email_methods`.
TENANT_PERMISSIONS = [TenantRolePermission, FeatureGatePermission, VerifiedEmailPermission]


class TenantAPIView(TenantContextMixin, APIView):
    permission_classes = APIView.permission_classes + TENANT_PERMISSIONS
    filter_backends = api_settings.DEFAULT_FILTER_BACKENDS  # the schema's source of list filters (query_filters)


class TenantGenericViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    permission_classes = viewsets.GenericViewSet.permission_classes + TENANT_PERMISSIONS


class TenantViewSet(TenantContextMixin, viewsets.ViewSet):
    """A plain ViewSet (no model) with the tenant in scope, for selector-backed endpoints."""

    permission_classes = viewsets.ViewSet.permission_classes + TENANT_PERMISSIONS
    filter_backends = api_settings.DEFAULT_FILTER_BACKENDS


class TenantModelViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                         mixins.DestroyModelMixin, mixins.ListModelMixin, TenantGenericViewSet):
    pass
