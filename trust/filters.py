"""The trust lists' filters (stratum.api.filters: a bad value is a 422 naming the parameter)."""
from __future__ import annotations

from stratum.api.filters import CharFilter, ChoiceFilter, FilterSet, UUIDFilter

from .models import (
    ActionSource,
    ActionStatus,
    ActorType,
    AuditDecision,
    AuditEvent,
    AuditLogEntry,
    AutopilotAction,
    BreakerState,
    CircuitBreaker,
)


class ActionFilterSet(FilterSet):
    status = ChoiceFilter(choices=ActionStatus.choices)
    source = ChoiceFilter(choices=ActionSource.choices)
    campaign_id = UUIDFilter()

    class Meta:
        model = AutopilotAction
        fields: list[str] = []


class BreakerFilterSet(FilterSet):
    state = ChoiceFilter(choices=BreakerState.choices)

    class Meta:
        model = CircuitBreaker
        fields: list[str] = []


class AuditFilterSet(FilterSet):
    """The audit log's filters; its period/start_date/end_date window is read by trust.views.base.optional_time_range."""

    event = ChoiceFilter(choices=AuditEvent.choices)
    decision = ChoiceFilter(choices=AuditDecision.choices)
    actor_type = ChoiceFilter(choices=ActorType.choices)
    action = CharFilter(help_text="The action's kind (its first 64 characters count).")
    ad_account_id = UUIDFilter()
    campaign_id = UUIDFilter()
    action_id = UUIDFilter()
    rule_id = UUIDFilter()

    class Meta:
        model = AuditLogEntry
        fields: list[str] = []
