"""The notification list's filters (stratum.api.filters)."""
from __future__ import annotations

from stratum.api.filters import BooleanFilter, ChoiceFilter, FilterSet

from ..models import Notification, NotificationCategory


class NotificationFilterSet(FilterSet):
    unread_only = BooleanFilter(help_text="Only unread notifications (default false).")
    category = ChoiceFilter(choices=NotificationCategory.choices)

    class Meta:
        model = Notification
        fields: list[str] = []
