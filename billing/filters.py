"""The staff's tenant list filters (stratum.api.filters)."""
from __future__ import annotations

from accounts.models import Tenant
from stratum.api.filters import CharFilter, ChoiceFilter, FilterSet

from .plans import Plan


class AdminTenantFilterSet(FilterSet):
    plan = ChoiceFilter(choices=Plan.choices)
    status = ChoiceFilter(choices=Tenant.Status.choices)
    search = CharFilter(max_length=200, help_text="Part of the name or the slug (case-insensitive).")

    class Meta:
        model = Tenant
        fields: list[str] = []
