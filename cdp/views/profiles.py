"""Profiles: search, read, upsert by identifiers, traits, statistics, identity log, unmerge; RFM recompute."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from stratum.api.exceptions import NotFound
from stratum.api.filters import query_filters
from stratum.api.params import parse_uuid
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body
from stratum.api.views import TenantAPIView, TenantGenericViewSet

from .. import selectors, services
from .. import serializers as s
from ..filters import ProfileFilterSet
from ..models import Profile
from .base import CdpEndpoint

TAGS = ["cdp-profiles"]


class ProfileViewSet(CdpEndpoint, TenantGenericViewSet):
    model = Profile
    serializer_class = s.ProfileSerializer

    def scoped_queryset(self):
        return Profile.objects.filter(merged_into__isnull=True).select_related("rfm").prefetch_related("identities")

    def _profile(self, pk):
        return selectors.profile_get(tenant=self.tenant, profile_id=parse_uuid({"id": pk}, "id"))

    @query_filters(ProfileFilterSet)
    @extend_schema(tags=TAGS)
    def list(self, request):
        # an unknown segment_id has no members: 200, empty (the list rule)
        profiles = selectors.profiles_list(tenant=self.tenant, **ProfileFilterSet.parse(request.query_params))
        page = self.paginate_queryset(profiles)
        return self.get_paginated_response(s.profile_items(page))

    @extend_schema(tags=TAGS, responses={200: s.ProfileSerializer},
                   description="An id that was merged into another profile answers that profile.")
    def retrieve(self, request, pk=None):
        return Response(s.ProfileSerializer(self._profile(pk)).data)

    @extend_schema(tags=TAGS, request=s.ProfileUpsertSerializer,
                   responses={200: s.ProfileSerializer, 201: s.ProfileSerializer},
                   description="Upsert by identifiers: finds, creates or merges profiles (identity resolution).")
    def create(self, request):
        data = parse_body(s.ProfileUpsertSerializer, request)
        profile, created = services.profile_upsert(tenant=self.tenant, identifiers=data["identifiers"],
                                                   traits=data.get("traits"), source="api",
                                                   lifecycle_stage=data.get("lifecycle_stage"))
        profile = selectors.profile_get(tenant=self.tenant, profile_id=profile.pk)
        return Response(s.ProfileSerializer(profile).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @error_responses(409)
    @extend_schema(tags=TAGS, request=s.ProfileUpdateSerializer, responses={200: s.ProfileSerializer},
                   description="Merges `traits` into the profile's (a null value removes the trait).")
    def partial_update(self, request, pk=None):
        profile = self._profile(pk)
        data = parse_body(s.ProfileUpdateSerializer, request)
        services.profile_update(tenant=self.tenant, profile=profile, traits=data.get("traits"),
                                lifecycle_stage=data.get("lifecycle_stage"))
        return Response(s.ProfileSerializer(self._profile(profile.pk)).data)

    @extend_schema(methods=["GET"], tags=TAGS, responses={200: s.ConsentSerializer},
                   description="Consent per purpose: true (given), false (withdrawn), null (never asked).")
    @extend_schema(methods=["PATCH"], tags=TAGS, request=s.ConsentSerializer, responses={200: s.ConsentSerializer},
                   description="Sets consent per purpose (the `consent_<purpose>` traits; a `consent_updated` event "
                               "does the same). Audience sync leaves out a profile whose `ads` consent is false, and "
                               "one without it when the tenant requires consent.")
    @action(detail=True, methods=["get", "patch"])
    def consent(self, request, pk=None):
        profile = self._profile(pk)
        if request.method == "PATCH":
            data = parse_body(s.ConsentSerializer, request)
            profile = services.profile_consent_set(tenant=self.tenant, profile=profile, consent=data)
        return Response(selectors.consent_of(profile.traits))

    @extend_schema(tags=TAGS, responses={200: s.ProfileStatisticsSerializer})
    @action(detail=False, methods=["get"])
    def statistics(self, request):
        return Response(selectors.profile_statistics(tenant=self.tenant))

    @extend_schema(tags=TAGS, responses={200: s.IdentityLinkSerializer(many=True)},
                   description="The append-only log of why identifiers and profiles were joined, newest first.")
    @action(detail=True, methods=["get"], url_path="identity-links")
    def identity_links(self, request, pk=None):
        profile = Profile.objects.filter(pk=parse_uuid({"id": pk}, "id")).first()
        if profile is None:
            raise NotFound("Profile not found.")
        page = self.paginate_queryset(selectors.identity_links(tenant=self.tenant, profile=profile))
        return self.get_paginated_response(s.IdentityLinkSerializer(page, many=True).data)

    @error_responses(409)
    @extend_schema(tags=TAGS, request=s.UnmergeSerializer, responses={200: s.UnmergeResponseSerializer},
                   description="Splits the latest (or the given) merge into this profile back.")
    @action(detail=True, methods=["post"])
    def unmerge(self, request, pk=None):
        profile = self._profile(pk)
        data = parse_body(s.UnmergeSerializer, request)
        merge = services.profile_unmerge(tenant=self.tenant, profile=profile, merge_id=data.get("merge_id"),
                                         block_identifier=data["block_identifier"])
        return Response({
            "merge": s.ProfileMergeSerializer(merge).data,
            "profile": s.ProfileSerializer(self._profile(merge.winner_id)).data,
            "restored_profile": s.ProfileSerializer(self._profile(merge.loser_id)).data,
        })


class RfmRecomputeView(CdpEndpoint, TenantAPIView):
    @extend_schema(tags=TAGS, request=None, responses={202: s.RfmRecomputeSerializer},
                   description="Queues an RFM recompute for this tenant (it also runs nightly).")
    def post(self, request):
        services.rfm_recompute_queue(tenant=self.tenant)
        return Response({"detail": "RFM recompute queued."}, status=status.HTTP_202_ACCEPTED)


class IdentityRulesView(CdpEndpoint, TenantAPIView):
    write_roles = ("owner", "admin")

    @extend_schema(tags=TAGS, responses={200: s.IdentityRulesSerializer})
    def get(self, request):
        return Response(services.identity_rules_get(tenant=self.tenant))

    @extend_schema(tags=TAGS, request=s.IdentityRulesUpdateSerializer, responses={200: s.IdentityRulesSerializer},
                   description="`blocklist` replaces the tenant's list; `caps` sets per-type identity caps.")
    def patch(self, request):
        data = parse_body(s.IdentityRulesUpdateSerializer, request)
        return Response(services.identity_rules_update(
            tenant=self.tenant, blocklist=[dict(e) for e in data["blocklist"]] if "blocklist" in data else None,
            caps=data.get("caps")))
