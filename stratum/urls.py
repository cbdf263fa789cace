from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from stratum.api.health import ApiHealthView, HealthView, LiveView, ReadyView
from stratum.api.metrics import metrics_view
from stratum.api.views_errors import api_not_found

API_APPS = ["accounts", "billing", "campaigns", "cdp", "trust", "workflow", "integrations", "integrations.webhooks",
            "analytics"]

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("health/live", LiveView.as_view(), name="health-live"),
    path("health/ready", ReadyView.as_view(), name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/health", ApiHealthView.as_view(), name="api-health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    *[path("api/v1/", include(f"{app}.urls")) for app in API_APPS],
    # Segment's HTTP Tracking API for the tracking SDKs (cdp/views/segment.py): source write keys only.
    path("v1/", include("cdp.tracking_urls")),
    re_path(r"^api/", api_not_found),
    path("", include("accounts.pages.urls")),  # what the links in e-mails open (accounts/pages/__init__.py)
    path("", include("billing.pages")),  # where Stripe Checkout returns the browser (billing/pages.py)
]

if settings.LOAD_PROBE_ENABLED:  # `make load` only: the framework's own ceiling (stratum/api/probe.py)
    from stratum.api.probe import probe_json

    urlpatterns.insert(0, path("_probe/json", probe_json))

handler400 = "stratum.api.views_errors.handler400"
handler404 = "stratum.api.views_errors.handler404"
handler500 = "stratum.api.views_errors.handler500"
