from .audiences import AudienceViewSet, ExportJobViewSet, ExportView, PlatformsView
from .events import BatchEventsView, EventViewSet, TrackEventView
from .profiles import IdentityRulesView, ProfileViewSet, RfmRecomputeView
from .segments import SegmentViewSet
from .sources import SourceViewSet

__all__ = ["AudienceViewSet", "BatchEventsView", "EventViewSet", "ExportJobViewSet", "ExportView", "IdentityRulesView",
           "PlatformsView", "ProfileViewSet", "RfmRecomputeView", "SegmentViewSet", "SourceViewSet", "TrackEventView"]
