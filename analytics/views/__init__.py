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
from .dashboard import DashboardOverviewView, DashboardSignalHealthView
from .platform import PlatformOverviewView
from .reporting import ExportView, ReportViewSet, ScheduleViewSet, TemplateViewSet

__all__ = ["AttributionCompareView", "AttributionView", "ChurnProfilesView", "ChurnRefreshView", "ChurnSummaryView",
           "DashboardOverviewView", "DashboardSignalHealthView", "ExportView", "FunnelReportView", "FunnelViewSet",
           "InsightsView", "PlatformOverviewView", "ReportViewSet", "ScheduleViewSet", "TemplateViewSet", "WhatIfView"]
