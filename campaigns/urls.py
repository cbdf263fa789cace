from django.urls import path

from stratum.api.routers import ApiRouter

from . import views

router = ApiRouter()
router.register("campaigns", views.CampaignViewSet, basename="campaigns")

urlpatterns = [
    path("dashboard/performance", views.DashboardPerformanceView.as_view(), name="dashboard-performance"),
    path("analytics/campaigns", views.AnalyticsCampaignsView.as_view(), name="analytics-campaigns"),
    path("campaign-builder/platforms", views.BuilderPlatformsView.as_view(), name="campaign-builder-platforms"),
    path("campaign-builder/accounts", views.BuilderAccountsView.as_view(), name="campaign-builder-accounts"),
    path("campaign-builder/campaigns", views.BuilderCampaignCreateView.as_view(), name="campaign-builder-campaigns"),
    path("pacing/status", views.PacingStatusView.as_view(), name="pacing-status"),
    path("pacing/alerts", views.PacingAlertsView.as_view(), name="pacing-alerts"),
    *router.urls,
]
