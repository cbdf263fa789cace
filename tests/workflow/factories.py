import datetime

import factory
from django.utils import timezone

from tests.accounts.factories import UserFactory
from tests.factories import TenantOwnedFactory
from workflow.models import (
    Alert,
    AlertInstance,
    Client,
    ClientMembership,
    CreativeSubmission,
    Lead,
    LeadScoringModel,
    Task,
    TaskComment,
)


class ClientFactory(TenantOwnedFactory):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n}")
    logo = "https://example.com/logo.png"


class ClientMembershipFactory(TenantOwnedFactory):
    class Meta:
        model = ClientMembership

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    user = factory.SubFactory(UserFactory, tenant=factory.SelfAttribute("..tenant"), role="analyst")
    role = "member"


class TaskFactory(TenantOwnedFactory):
    class Meta:
        model = Task

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    name = factory.Sequence(lambda n: f"Task {n}")
    task_type = "other"
    priority = "Medium"


class TaskCommentFactory(TenantOwnedFactory):
    class Meta:
        model = TaskComment

    task = factory.SubFactory(TaskFactory, tenant=factory.SelfAttribute("..tenant"))
    user = factory.SubFactory(UserFactory, tenant=factory.SelfAttribute("..tenant"))
    comment = "Looks good."


class AlertFactory(TenantOwnedFactory):
    class Meta:
        model = Alert

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    name = factory.Sequence(lambda n: f"Alert {n}")
    alert_type = "cplpv"
    data_source = "dm_alert.alert_cplpv"
    data_level = "ad"
    condition_config = factory.LazyFunction(lambda: {"field": "cplpv", "operator": "greater_than", "value": 50,
                                                     "compare_to": "value", "lookback_days": 7, "min_spend": 0})
    action_config = factory.LazyFunction(lambda: {"create_task": False, "assignees": [], "task_type": "review_report",
                                                  "priority": "High"})
    frequency = factory.LazyFunction(lambda: {"type": "daily", "time": "05:00", "timezone": "UTC"})


class AlertInstanceFactory(TenantOwnedFactory):
    class Meta:
        model = AlertInstance

    alert = factory.SubFactory(AlertFactory, tenant=factory.SelfAttribute("..tenant"))
    client = factory.SelfAttribute("alert.client")
    object_type = "ad"
    object_id = factory.Sequence(lambda n: f"object-{n}")
    triggered_on = factory.LazyFunction(lambda: datetime.date(2026, 3, 1))
    triggered_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)
    alert_data = factory.LazyFunction(lambda: {"cplpv": 75.5, "account_average": 45.2})


class LeadFactory(TenantOwnedFactory):
    class Meta:
        model = Lead

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    email = factory.Sequence(lambda n: f"lead{n}@acme.example")
    score = 0.5
    value = factory.LazyFunction(lambda: {"engagement_score": 0.5, "demographic_score": 0.5, "behavioral_score": 0.5})
    raw_data = factory.LazyFunction(lambda: {"page_views": 5})


class LeadScoringModelFactory(TenantOwnedFactory):
    class Meta:
        model = LeadScoringModel

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    weights = factory.LazyFunction(lambda: {"engagement": 0.4, "demographic": 0.2, "behavioral": 0.4})


class CreativeSubmissionFactory(TenantOwnedFactory):
    class Meta:
        model = CreativeSubmission

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    name = factory.Sequence(lambda n: f"Creative {n}")
    ad_type = "image"
    media_url = "https://cdn.example.com/banner.jpg"
    media_filename = "banner.jpg"
    media_content_type = "image/jpeg"
