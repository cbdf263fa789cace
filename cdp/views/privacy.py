"""Privacy: data-subject requests (owners/admins, or API keys with read:privacy / write:privacy), the signed
download of a subject export, the tenant's privacy settings, a profile's consent."""
from __future__ import annotations

import datetime as dt

from django.http import FileResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from stratum.api.exceptions import ValidationFailed
from stratum.api.permissions import ADMIN_ROLES
from stratum.api.principals import is_api_key_request
from stratum.api.serializers import parse_body
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from .. import selectors, services
from .. import serializers as s
from ..identifiers import IdentifierError, normalize_identifiers
from ..models import PrivacyRequest
from ..services.privacy import DOWNLOAD_MAX_AGE
from .base import CdpEndpoint

TAGS = ["cdp-privacy"]


class PrivacyEndpoint(CdpEndpoint):
    scope_resource = "privacy"
    read_roles = ADMIN_ROLES
    write_roles = ADMIN_ROLES


def _identifiers(data: dict) -> dict[str, str]:
    try:
        return normalize_identifiers(data.get("identifiers") or {})
    except IdentifierError as exc:
        raise ValidationFailed(errors=exc.errors) from exc


class PrivacyRequestViewSet(PrivacyEndpoint, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    model = PrivacyRequest
    serializer_class = s.PrivacyRequestSerializer

    def scoped_queryset(self):
        return selectors.privacy_requests(tenant=self.tenant)

    def get_serializer_context(self):
        request = self.request

        def link(obj):
            token = services.privacy_download_token(request=obj)
            expires = timezone.now() + dt.timedelta(seconds=DOWNLOAD_MAX_AGE)
            return (request.build_absolute_uri(reverse("cdp-privacy-download", kwargs={"token": token})),
                    expires.isoformat().replace("+00:00", "Z"))

        return {**super().get_serializer_context(), "link": link}

    @extend_schema(tags=TAGS, description="The tenant's privacy requests, newest first. Owners and admins; API keys "
                                          "need read:privacy.")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(tags=TAGS, description="Status, counts and times; a completed export carries a signed "
                                          f"`download_url` that works for {DOWNLOAD_MAX_AGE // 60} minutes (ask again "
                                          "for a fresh one).")
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(tags=TAGS, request=s.PrivacyRequestCreateSerializer, responses={202: s.PrivacyRequestSerializer},
                   description="Files a request about one person, named by `profile_id` or `identifiers` (or both), "
                               "processed in the background: `erase` deletes every row about them and suppresses "
                               "their identifiers; `export` builds a JSON file of everything held; `suppress` / "
                               "`unsuppress` add or remove their identifiers on the suppression list. 404 for an "
                               "unknown profile_id.")
    def create(self, request):
        data = parse_body(s.PrivacyRequestCreateSerializer, request)
        privacy_request = services.privacy_request_create(
            tenant=self.tenant, type=data["type"], profile_id=data.get("profile_id"), identifiers=_identifiers(data),
            reason=data["reason"], requested_by=request.user,
            via="api_key" if is_api_key_request(request) else "user")
        return Response(self.get_serializer(privacy_request).data, status=status.HTTP_202_ACCEPTED)


class PrivacyDownloadView(APIView):
    """A subject export, by a signed link that works for a few minutes. No bearer token: the signature names the
    request."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(tags=TAGS, auth=[], responses={(200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT),
                                                  404: OpenApiResponse(description="Invalid or expired link")})
    def get(self, request, token: str):
        privacy_request, handle = services.privacy_download_open(token=token)
        return FileResponse(handle, as_attachment=True, filename=f"privacy-export-{privacy_request.pk}.json",
                            content_type="application/json")


class PrivacySettingsView(PrivacyEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, responses={200: s.PrivacySettingsSerializer})
    def get(self, request):
        return Response(services.privacy_settings_get(tenant=self.tenant))

    @extend_schema(tags=TAGS, request=s.PrivacySettingsUpdateSerializer, responses={200: s.PrivacySettingsSerializer},
                   description="`require_ads_consent`: audience sync uploads only profiles whose `ads` consent is "
                               "given. `event_retention_days`: raw events older than this are deleted nightly "
                               "(at most the plan's max_event_retention_days; null: the plan's maximum).")
    def patch(self, request):
        data = parse_body(s.PrivacySettingsUpdateSerializer, request)
        return Response(services.privacy_settings_update(tenant=self.tenant, data=data))
