from django.urls import path

from stratum.api.routers import ApiRouter

from . import views

router = ApiRouter()
router.register("trust/audit-logs", views.AuditLogViewSet, basename="trust-audit-logs")
router.register("autopilot/actions", views.AutopilotActionViewSet, basename="autopilot-actions")
router.register("autopilot/circuit-breakers", views.CircuitBreakerViewSet, basename="autopilot-circuit-breakers")
router.register("rules", views.RuleViewSet, basename="rules")

urlpatterns = [
    path("trust/signal-health", views.SignalHealthView.as_view(), name="trust-signal-health"),
    path("trust/signal-health/history", views.SignalHealthHistoryView.as_view(), name="trust-signal-health-history"),
    path("trust/signal-health/recompute", views.SignalHealthRecomputeView.as_view(),
         name="trust-signal-health-recompute"),
    path("trust/gate-status", views.GateStatusView.as_view(), name="trust-gate-status"),
    path("autopilot/status", views.AutopilotStatusView.as_view(), name="autopilot-status"),
    path("autopilot/settings", views.AutopilotSettingsView.as_view(), name="autopilot-settings"),
    path("autopilot/pending-actions", views.PendingActionsView.as_view(), name="autopilot-pending-actions"),
    path("autopilot/run", views.AutopilotRunView.as_view(), name="autopilot-run"),
    *router.urls,
]
