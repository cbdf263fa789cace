"""The webhook lists' filters (stratum.api.filters)."""
from __future__ import annotations

from stratum.api.filters import BooleanFilter, ChoiceFilter, FilterSet

from .delivery import TEST_EVENT
from .models import Webhook, WebhookDelivery
from .selectors import EVENT_DESCRIPTIONS


class WebhookFilterSet(FilterSet):
    is_active = BooleanFilter(help_text="Only enabled (true) or disabled (false) endpoints.")

    class Meta:
        model = Webhook
        fields: list[str] = []


class DeliveryFilterSet(FilterSet):
    status = ChoiceFilter(choices=WebhookDelivery.Status.choices)
    event_type = ChoiceFilter(choices=[(event, event) for event in (*EVENT_DESCRIPTIONS, TEST_EVENT)])

    class Meta:
        model = WebhookDelivery
        fields: list[str] = []
