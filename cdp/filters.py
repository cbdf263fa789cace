"""The CDP lists' filters (stratum.api.filters: a bad value is a 422 naming the parameter). An id that names nothing
of the tenant (a segment, a profile) filters to an empty list, never a 404: the selectors apply that rule."""
from __future__ import annotations

from stratum.api.filters import CharFilter, ChoiceFilter, FilterSet, UUIDFilter

from .models import Event, LifecycleStage, Profile, RfmSegment, SegmentMembership

MEMBER_CHANGES = ("added", "removed")


class ProfileFilterSet(FilterSet):
    query = CharFilter(max_length=200, help_text="E-mail, phone, external id or any identifier value")
    lifecycle_stage = ChoiceFilter(choices=LifecycleStage.choices)
    rfm_segment = ChoiceFilter(choices=RfmSegment.choices)
    segment_id = UUIDFilter(help_text="Members of this segment (materialized)")

    class Meta:
        model = Profile
        fields: list[str] = []


class EventFilterSet(FilterSet):
    profile_id = UUIDFilter(help_text="One profile's timeline (a merged id resolves)")
    event_type = CharFilter(max_length=64)

    class Meta:
        model = Event
        fields: list[str] = []


class SegmentMemberFilterSet(FilterSet):
    change = ChoiceFilter(choices=[(change, change) for change in MEMBER_CHANGES],
                          help_text="Only those that joined / left at the last refresh")

    class Meta:
        model = SegmentMembership
        fields: list[str] = []
