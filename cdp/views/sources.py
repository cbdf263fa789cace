"""Sources: the write keys tracking SDKs send with (Segment's HTTP Tracking API on /v1/*, see views/segment.py)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from stratum.api.permissions import ADMIN_ROLES
from stratum.api.serializers import parse_body
from stratum.api.views import TenantGenericViewSet

from .. import serializers as s
from ..models import Source
from ..services import sources
from .base import CdpEndpoint

TAGS = ["cdp-sources"]


@extend_schema_view(list=extend_schema(tags=TAGS), retrieve=extend_schema(tags=TAGS))
class SourceViewSet(CdpEndpoint, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    """Any member (or a read:cdp key) lists them; owners and admins (or a write:cdp key of one) create, rotate and
    delete. The write key is shown once, in the answer that makes it."""

    model = Source
    serializer_class = s.SourceSerializer
    write_roles = ADMIN_ROLES

    def scoped_queryset(self):
        return Source.objects.filter(revoked_at__isnull=True).order_by("-created_at", "pk")

    @extend_schema(tags=TAGS, request=s.SourceCreateSerializer, responses={201: s.SourceWithKeySerializer},
                   description="`write_key` is in this answer only; `allowed_origins` (browser sources) are the "
                               "origins whose pages may send with it (none listed: any origin).")
    def create(self, request):
        data = parse_body(s.SourceCreateSerializer, request)
        source, key = sources.source_create(tenant=self.tenant, name=data["name"], kind=data["kind"],
                                            allowed_origins=data["allowed_origins"], created_by=request.user)
        return Response(s.SourceWithKeySerializer(source, context={"write_key": key}).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(tags=TAGS, request=None, responses={200: s.SourceWithKeySerializer},
                   description="A new write key, shown this once; the old key stops working at once.")
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request, pk=None):
        source, key = sources.source_rotate_key(tenant=self.tenant, source=self.get_object())
        return Response(s.SourceWithKeySerializer(source, context={"write_key": key}).data)

    @extend_schema(tags=TAGS, responses={204: None}, description="Revokes the write key; the source leaves the list.")
    def destroy(self, request, pk=None):
        sources.source_delete(tenant=self.tenant, source=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
