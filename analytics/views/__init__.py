from .analytics import (
                        AttributionCompareView,
                        AttributionView,
                        ChurnProfilesView,
                        ChurnRefreshView,
                        ChurnSummaryView,
                        FunnelReportView,
                        FunnelViewSet,
                        InsightsView,
                        WhatIfView,
)
from .reporting import ExportView, ReportViewSet, ScheduleViewSet, TemplateViewSet

__all__ = ["AttributionCompareView", "AttributionView", "ChurnProfilesView", "ChurnRefreshView", "ChurnSummaryView",
           "ExportView", "FunnelReportView", "FunnelViewSet", "InsightsView", "ReportViewSet", "ScheduleViewSet",
           "TemplateViewSet", "WhatIfView"]
