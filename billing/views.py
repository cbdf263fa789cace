from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from accounts.serializers import FeatureFlagsSerializer
from stratum.api.views import TenantAPIView

from .selectors import feature_flags_get


class FeatureFlagsView(TenantAPIView):
    required_scopes = {"GET": ["read:billing"]}

    @extend_schema(responses={200: FeatureFlagsSerializer}, tags=["features"])
    def get(self, request):
        return Response(feature_flags_get(tenant=self.tenant))
