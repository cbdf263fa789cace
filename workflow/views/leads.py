"""Lead scoring: results, scoring a lead, and a client's scoring configuration."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema

from stratum.api.exceptions import ValidationFailed
from stratum.api.filters import query_filters
from stratum.api.params import parse_uuid
from stratum.api.serializers import parse_body

from ..access import role_require
from ..filters import LeadFilterSet, lead_filters_parse
from ..models import ClientRole, Lead
from ..selectors.clients import client_get_visible
from ..selectors.objects import leads_filter, leads_visible_to
from ..serializers import leads as s
from ..services import leads as services
from .base import (
    CatalystOffsetPagination,
    WorkflowAPIView,
    WorkflowViewSet,
    envelope,
    ok,
    page_envelope,
)

TAGS = ["catalyst: lead scoring"]


class LeadResultViewSet(WorkflowViewSet):
    model = Lead
    serializer_class = s.LeadSerializer
    catalyst_list_key = "results"
    pagination_class = CatalystOffsetPagination
    default_limit = 100

    def scoped_queryset(self):
        return leads_visible_to(tenant=self.tenant, user=self.request.user)

    @query_filters(LeadFilterSet)
    @extend_schema(responses=page_envelope("LeadResultList", "results", s.LeadSerializer, offset=True), tags=TAGS)
    def list(self, request):
        filters = lead_filters_parse(request.query_params, tz=self.tenant.timezone)
        return self.page_response(leads_filter(tenant=self.tenant, user=request.user, leads=self.get_queryset(),
                                               filters=filters), s.LeadSerializer)

    @extend_schema(responses=envelope("LeadResult", s.LeadSerializer()), tags=TAGS)
    def retrieve(self, request, pk=None):
        return ok(s.LeadSerializer(self.get_object()).data)


class LeadScoreView(WorkflowAPIView):
    """Scores a lead for a client (members and admins) and stores the result; re-scoring an e-mail updates it."""

    @extend_schema(request=s.ScoreLeadSerializer, responses={200: envelope("LeadScored", s.LeadSerializer())},
                   tags=TAGS)
    def post(self, request):
        data = dict(parse_body(s.ScoreLeadSerializer, request))
        client = client_get_visible(tenant=self.tenant, user=request.user, client_id=data.pop("client_id"))
        role_require(client.role, ClientRole.MEMBER, action="score leads")
        lead, created = services.lead_score(tenant=self.tenant, client=client, email=data["email"],
                                            raw_data=data["raw_data"], source=data["source"],
                                            outcome=data.get("outcome"))
        return ok(s.LeadSerializer(lead).data, message="Lead scored" if created else "Lead re-scored")


class LeadScoringConfigView(WorkflowAPIView):
    """A client's scoring method (formula or fitted logistic regression with its AUC) and formula weights."""

    def _client(self, request):
        client_id = parse_uuid(request.query_params, "client_id")
        if client_id is None:
            raise ValidationFailed(errors={"client_id": ["This query parameter is required."]})
        return client_get_visible(tenant=self.tenant, user=request.user, client_id=client_id)

    @extend_schema(parameters=[OpenApiParameter("client_id", str, required=True)],
                   responses=envelope("LeadScoringConfig", s.ScoringModelSerializer()), tags=TAGS)
    def get(self, request):
        client = self._client(request)
        return ok(s.ScoringModelSerializer(services.scoring_model_get(tenant=self.tenant, client=client)).data)

    @extend_schema(parameters=[OpenApiParameter("client_id", str, required=True)],
                   request=s.ScoringConfigWriteSerializer,
                   responses=envelope("LeadScoringConfigUpdated", s.ScoringModelSerializer()), tags=TAGS)
    def put(self, request):
        client = self._client(request)
        role_require(client.role, ClientRole.ADMIN, action="change lead scoring")
        data = parse_body(s.ScoringConfigWriteSerializer, request)
        model = services.scoring_weights_update(tenant=self.tenant, client=client, weights=dict(data["weights"]))
        body = s.ScoringModelSerializer(model).data
        if body["weights_apply_to"] == "formula_fallback":
            return ok(body, message="Weights saved. This client's leads are scored by the fitted model: the weights "
                                    "apply to the formula fallback only.")
        return ok(body, message="Lead scoring updated")


class LeadScoringRefitView(LeadScoringConfigView):
    """Refits the client's model now (otherwise nightly): outcomes and CDP events refreshed, the logistic
    regression fitted when there are enough labelled leads (else the formula), every lead re-scored."""

    http_method_names = ["post", "options"]

    @extend_schema(parameters=[OpenApiParameter("client_id", str, required=True)], request=None,
                   responses=envelope("LeadScoringRefitted", s.ScoringModelSerializer()), tags=TAGS)
    def post(self, request):
        client = self._client(request)
        role_require(client.role, ClientRole.ADMIN, action="refit lead scoring")
        model = services.lead_model_fit(tenant=self.tenant, client=client)
        body = s.ScoringModelSerializer(model).data
        if body["model"] is None:
            return ok(body, message=f"Not enough labelled leads to fit a model ({model.training_samples} of "
                                    f"{body['min_labelled_leads']}, with both outcomes): scored by the formula.")
        return ok(body, message=f"Model refitted on {model.training_samples} labelled leads (AUC {model.auc}).")
