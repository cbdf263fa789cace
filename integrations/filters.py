"""The integrations lists' filters (stratum.api.filters)."""
from __future__ import annotations

from stratum.api.filters import ChoiceFilter, FilterSet

from .models import CrmProvider, CrmSyncRun


class CrmRunFilterSet(FilterSet):
    provider = ChoiceFilter(choices=CrmProvider.choices)

    class Meta:
        model = CrmSyncRun
        fields: list[str] = []
