"""Catalyst routes. More specific prefixes are registered first, so `/alerts/instances` and
`/tasks/comments/{comment_id}` are never read as an alert or task id."""
from django.urls import path

from stratum.api.routers import ApiRouter

from .views import alerts, clients, creatives, leads, reports, tasks

router = ApiRouter()
router.register("clients", clients.ClientViewSet, basename="clients")
router.register("alerts/instances", alerts.AlertInstanceViewSet, basename="alert-instances")
router.register("alerts", alerts.AlertViewSet, basename="alerts")
router.register("tasks", tasks.TaskViewSet, basename="tasks")
router.register("leadscoring/results", leads.LeadResultViewSet, basename="leadscoring-results")
router.register("creative-submissions", creatives.CreativeSubmissionViewSet, basename="creative-submissions")

comment_detail = tasks.TaskCommentViewSet.as_view({"get": "retrieve", "patch": "partial_update",
                                                   "delete": "destroy"})

urlpatterns = [
    path("tasks/comments/<uuid:comment_id>", comment_detail, name="task-comment-detail"),
    path("leadscoring/score", leads.LeadScoreView.as_view(), name="leadscoring-score"),
    path("leadscoring/config", leads.LeadScoringConfigView.as_view(), name="leadscoring-config"),
    path("leadscoring/refit", leads.LeadScoringRefitView.as_view(), name="leadscoring-refit"),
    path("reports/growth", reports.GrowthReportView.as_view(), name="reports-growth"),
    path("reports/performance", reports.PerformanceReportView.as_view(), name="reports-performance"),
    *router.urls,
]
