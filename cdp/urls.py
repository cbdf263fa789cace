from django.urls import path

from stratum.api.routers import ApiRouter

from . import views

router = ApiRouter()
router.register("cdp/profiles", views.ProfileViewSet, basename="cdp-profiles")
router.register("cdp/segments", views.SegmentViewSet, basename="cdp-segments")
router.register("cdp/events", views.EventViewSet, basename="cdp-events")
router.register("cdp/audience-sync/audiences", views.AudienceViewSet, basename="cdp-audiences")
router.register("cdp/audiences/exports", views.ExportJobViewSet, basename="cdp-exports")
router.register("cdp/sources", views.SourceViewSet, basename="cdp-sources")

urlpatterns = [
    path("cdp/events/track", views.TrackEventView.as_view(), name="cdp-events-track"),
    path("cdp/events/batch", views.BatchEventsView.as_view(), name="cdp-events-batch"),
    path("cdp/rfm/recompute", views.RfmRecomputeView.as_view(), name="cdp-rfm-recompute"),
    path("cdp/identity-rules", views.IdentityRulesView.as_view(), name="cdp-identity-rules"),
    path("cdp/audience-sync/platforms", views.PlatformsView.as_view(), name="cdp-audience-platforms"),
    path("cdp/audiences/export", views.ExportView.as_view(), name="cdp-audiences-export"),
    *router.urls,
]
