from .autopilot import (
    AutopilotActionViewSet,
    AutopilotRunView,
    AutopilotSettingsView,
    AutopilotStatusView,
    CircuitBreakerViewSet,
    PendingActionsView,
)
from .rules import RuleViewSet
from .trust import AuditLogViewSet, GateStatusView, SignalHealthHistoryView, SignalHealthRecomputeView, SignalHealthView

__all__ = [
    "AuditLogViewSet", "AutopilotActionViewSet", "AutopilotRunView", "AutopilotSettingsView", "AutopilotStatusView",
    "CircuitBreakerViewSet", "GateStatusView", "PendingActionsView", "RuleViewSet", "SignalHealthHistoryView",
    "SignalHealthRecomputeView", "SignalHealthView",
]
