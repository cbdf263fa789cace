"""The analytics lists' filters (stratum.api.filters: a bad value is a 422 naming the parameter)."""
from __future__ import annotations

from stratum.api.filters import ChoiceFilter, FilterSet, NumberFilter, UUIDFilter

from .models import ChurnPrediction, ChurnRisk, ReportSchedule


class ChurnPredictionFilterSet(FilterSet):
    risk = ChoiceFilter(choices=ChurnRisk.choices)
    min_probability = NumberFilter(min_value=0, max_value=1, help_text="0–1")

    class Meta:
        model = ChurnPrediction
        fields: list[str] = []


class ScheduleFilterSet(FilterSet):
    report_id = UUIDFilter(help_text="Only this report's schedules.")

    class Meta:
        model = ReportSchedule
        fields: list[str] = []
