import uuid
from decimal import Decimal

import factory
from django.utils import timezone

from tests.campaigns.factories import AdAccountFactory, CampaignFactory
from tests.factories import TenantOwnedFactory
from trust.models import (
    AuditLogEntry,
    AutopilotAction,
    AutopilotSettings,
    CircuitBreaker,
    Rule,
    RuleExecution,
    RuleFiring,
    SignalHealthSnapshot,
)


def signals(score: int | None, status: str) -> list[dict]:
    return [{"name": name, "score": score, "status": status, "weight": weight, "details": {}}
            for name, weight in (("pixel_coverage", 0.3), ("conversion_accuracy", 0.25), ("data_freshness", 0.25),
                                 ("api_health", 0.2))]


class SignalHealthSnapshotFactory(TenantOwnedFactory):
    class Meta:
        model = SignalHealthSnapshot

    run_id = factory.LazyFunction(uuid.uuid4)
    ad_account = factory.SubFactory(AdAccountFactory, tenant=factory.SelfAttribute("..tenant"))
    computed_at = factory.LazyFunction(timezone.now)
    trigger = "schedule"
    overall_score = 85
    status = "healthy"
    signals = factory.LazyAttribute(lambda o: signals(o.overall_score, o.status))


class AuditLogEntryFactory(TenantOwnedFactory):
    class Meta:
        model = AuditLogEntry

    event = "gate"
    decision = "allowed"
    actor_type = "autopilot"
    actor_name = "Autopilot"
    action = "increase_budget"
    target = "Campaign (meta)"
    reason = "Signal health is healthy (85/100)."
    signal = factory.LazyFunction(lambda: {"overall_score": 85, "status": "healthy"})


class AutopilotSettingsFactory(TenantOwnedFactory):
    class Meta:
        model = AutopilotSettings
        django_get_or_create = ("tenant",)

    enabled = True
    mode = "balanced"


class RuleFactory(TenantOwnedFactory):
    class Meta:
        model = Rule

    name = factory.Sequence(lambda n: f"Rule {n}")
    conditions = factory.LazyFunction(lambda: {"operator": "and", "conditions": [
        {"field": "roas", "operator": "less_than", "value": 1.5}]})
    actions = factory.LazyFunction(lambda: [{"type": "pause_campaign", "notify": False}])
    scope = factory.LazyFunction(lambda: {"type": "all", "campaign_status": "active"})
    frequency = "hourly"
    lookback = "last_7d"


class AutopilotActionFactory(TenantOwnedFactory):
    class Meta:
        model = AutopilotAction

    source = "autopilot"
    kind = "decrease_budget"
    status = "pending"
    campaign = factory.SubFactory(CampaignFactory, tenant=factory.SelfAttribute("..tenant"))
    ad_account = factory.SelfAttribute("campaign.ad_account")
    before = factory.LazyAttribute(lambda o: {"status": o.campaign.status,
                                              "budget_amount": str(o.campaign.budget_amount),
                                              "budget_type": o.campaign.budget_type})
    after = factory.LazyAttribute(lambda o: {**o.before, "budget_amount": str(o.campaign.budget_amount - 10)})
    money_impact = Decimal("10.00")
    reason = "Marginal ROAS below the target."


class CircuitBreakerFactory(TenantOwnedFactory):
    class Meta:
        model = CircuitBreaker

    ad_account = factory.SubFactory(AdAccountFactory, tenant=factory.SelfAttribute("..tenant"))
    reason = "spend_spike"
    details = factory.LazyFunction(lambda: {"factor": 4.2})
    tripped_at = factory.LazyFunction(timezone.now)


class RuleExecutionFactory(TenantOwnedFactory):
    class Meta:
        model = RuleExecution

    rule = factory.SubFactory(RuleFactory, tenant=factory.SelfAttribute("..tenant"))
    trigger = "schedule"
    status = "ok"
    started_at = factory.LazyFunction(timezone.now)


class RuleFiringFactory(TenantOwnedFactory):
    class Meta:
        model = RuleFiring

    rule = factory.SubFactory(RuleFactory, tenant=factory.SelfAttribute("..tenant"))
    execution = factory.SubFactory(RuleExecutionFactory, tenant=factory.SelfAttribute("..tenant"),
                                   rule=factory.SelfAttribute("..rule"))
    campaign = factory.SubFactory(CampaignFactory, tenant=factory.SelfAttribute("..tenant"))
    fired_at = factory.LazyFunction(timezone.now)
    metrics = factory.LazyFunction(lambda: {"last_7d": {"roas": 1.2}})
    outcomes = factory.LazyFunction(lambda: [{"type": "pause_campaign", "outcome": "executed"}])
