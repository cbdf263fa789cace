"""Creative submissions: JSON with a `media_url`, or multipart/form-data with a `file`."""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser

from stratum.api.exceptions import NotFound
from stratum.api.files import file_download
from stratum.api.filters import query_filters
from stratum.api.parsers import BoundedJSONParser
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body

from ..access import role_require
from ..filters import CreativeFilterSet, creative_filters_parse
from ..models import ClientRole, CreativeSubmission
from ..selectors.objects import creatives_filter, creatives_visible_to
from ..serializers import creatives as s
from ..services import creatives as services
from .base import WorkflowViewSet, envelope, ok, page_envelope, work_client

TAGS = ["catalyst: creative submissions"]
MULTIPART_OVERHEAD = 1024 * 1024


class JSONBodyParser(BoundedJSONParser):
    """JSON bodies keep the API's default ceiling even though this view accepts large uploads."""

    def parse(self, stream, media_type=None, parser_context=None):
        return super().parse(stream, media_type, {**(parser_context or {}), "view": None})


class CreativeSubmissionViewSet(WorkflowViewSet):
    """Members submit creatives; client admins approve or reject them."""

    model = CreativeSubmission
    serializer_class = s.CreativeSerializer
    catalyst_list_key = "submissions"
    parser_classes = [JSONBodyParser, MultiPartParser, FormParser]
    max_body_bytes = settings.CREATIVE_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD

    def scoped_queryset(self):
        return creatives_visible_to(tenant=self.tenant, user=self.request.user)

    def _one(self, submission) -> dict:
        return s.CreativeSerializer(submission, context=self.get_serializer_context()).data

    @query_filters(CreativeFilterSet)
    @extend_schema(responses=page_envelope("CreativeList", "submissions", s.CreativeSerializer), tags=TAGS)
    def list(self, request):
        filters = creative_filters_parse(request.query_params, tz=self.tenant.timezone)
        creatives = creatives_filter(tenant=self.tenant, user=request.user, creatives=self.get_queryset(),
                                     filters=filters)
        return self.page_response(creatives, s.CreativeSerializer)

    @extend_schema(request={"application/json": s.CreativeCreateSerializer,
                            "multipart/form-data": s.CreativeCreateSerializer},
                   parameters=[OpenApiParameter("client_id", str, required=False)],
                   responses={201: envelope("CreativeCreated", s.CreativeSerializer())}, tags=TAGS)
    def create(self, request):
        data = dict(parse_body(s.CreativeCreateSerializer, request))
        client = work_client(self, data, action="submit creatives")
        submission = services.creative_create(tenant=self.tenant, client=client, submitted_by=request.user,
                                              upload=data.pop("file", None), **data)
        return ok(self._one(self.get_queryset().get(pk=submission.pk)), message="Creative submitted", status=201)

    @extend_schema(responses=envelope("CreativeDetail", s.CreativeSerializer()), tags=TAGS)
    def retrieve(self, request, pk=None):
        return ok(self._one(self.get_object()))

    def _decision(self) -> CreativeSubmission:
        submission = self.get_object()
        role_require(submission.my_role, ClientRole.ADMIN, action="approve or reject creatives")
        return submission

    @error_responses(409)
    @extend_schema(request=None, responses=envelope("CreativeApproved", s.CreativeSerializer()), tags=TAGS)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Client admins only; closes the review task. A decided creative is a 409."""
        submission = services.creative_approve(tenant=self.tenant, submission=self._decision(), actor=request.user)
        return ok(self._one(self.get_queryset().get(pk=submission.pk)), message="Creative approved")

    @error_responses(409)
    @extend_schema(request=s.RejectSerializer, responses=envelope("CreativeRejected", s.CreativeSerializer()),
                   tags=TAGS)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        submission = self._decision()
        reason = parse_body(s.RejectSerializer, request)["reason"]
        submission = services.creative_reject(tenant=self.tenant, submission=submission, actor=request.user,
                                              reason=reason)
        return ok(self._one(self.get_queryset().get(pk=submission.pk)), message="Creative rejected")

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)}, tags=TAGS)
    @action(detail=True, methods=["get"])
    def media(self, request, pk=None):
        """The uploaded file (with its detected content type); 404 for a creative given by media_url."""
        submission = self.get_object()
        if not submission.media_file:
            raise NotFound("This creative has no uploaded file.")
        return file_download(name=submission.media_file.name, filename=submission.media_filename or "creative",
                             content_type=submission.media_content_type, inline=True)

    @extend_schema(responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY)}, tags=TAGS)
    @action(detail=True, methods=["get"])
    def thumbnail(self, request, pk=None):
        """The PNG preview made when the creative was fetched from its URL; 404 until there is one."""
        submission = self.get_object()
        if not submission.media_thumbnail:
            raise NotFound("This creative has no thumbnail (yet).")
        return file_download(name=submission.media_thumbnail.name, filename="thumbnail.png", content_type="image/png",
                             inline=True)
