"""The real URLconf plus one probe view gated on a feature, so the gate walker always has a route to walk."""
from django.urls import path
from rest_framework.response import Response

from stratum.api.views import TenantAPIView
from stratum.urls import urlpatterns as real_urlpatterns


class PredictiveChurnProbe(TenantAPIView):
    required_feature = "predictive_churn"
    scope_resource = "analytics"

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("api/v1/_probe/predictive-churn", PredictiveChurnProbe.as_view()), *real_urlpatterns]
