from django.urls import path

from stratum.api.routers import ApiRouter

from . import views

router = ApiRouter()
router.register("analytics/funnels", views.FunnelViewSet, basename="analytics-funnels")
router.register("reporting/templates", views.TemplateViewSet, basename="reporting-templates")
router.register("reporting/reports", views.ReportViewSet, basename="reporting-reports")
router.register("reporting/schedules", views.ScheduleViewSet, basename="reporting-schedules")

urlpatterns = [
    path("dashboard/overview", views.DashboardOverviewView.as_view(), name="dashboard-overview"),
    path("dashboard/signal-health", views.DashboardSignalHealthView.as_view(), name="dashboard-signal-health"),
    path("analytics/attribution", views.AttributionView.as_view(), name="analytics-attribution"),
    path("analytics/attribution/compare", views.AttributionCompareView.as_view(), name="analytics-attribution-compare"),
    path("analytics/funnel", views.FunnelReportView.as_view(), name="analytics-funnel"),
    path("analytics/ai/insights", views.InsightsView.as_view(), name="analytics-insights"),
    path("analytics/what-if", views.WhatIfView.as_view(), name="analytics-what-if"),
    path("analytics/churn", views.ChurnSummaryView.as_view(), name="analytics-churn"),
    path("analytics/churn/profiles", views.ChurnProfilesView.as_view(), name="analytics-churn-profiles"),
    path("analytics/churn/refresh", views.ChurnRefreshView.as_view(), name="analytics-churn-refresh"),
    path("superadmin/analytics/overview", views.PlatformOverviewView.as_view(), name="superadmin-overview"),
    path("reporting/export", views.ExportView.as_view(), name="reporting-export"),
    *router.urls,
]
