"""The workflow part of seed_demo: complete, and idempotent."""
import io
from decimal import Decimal

import pytest

from accounts.models import User
from campaigns.models import AdAccount
from tests.campaigns.factories import AdAccountFactory, AdDailyMetricFactory, AdFactory, CampaignDailyMetricFactory
from workflow import demo
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

pytestmark = pytest.mark.django_db


def snapshot():
    return {model.__name__: model.objects.count() for model in (
        Client, ClientMembership, Task, TaskComment, Alert, AlertInstance, Lead, CreativeSubmission)}


def test_seed_is_complete_and_idempotent(tenant, user, scoped, time_machine):
    import datetime

    time_machine.move_to("2026-03-10T12:00:00Z", tick=False)
    for index in range(3):  # what the campaigns seeder leaves: demo accounts with uneven campaigns
        account = AdAccountFactory(tenant=tenant, external_id=f"demo_{index}")
        for size in (1, 3):
            ad = AdFactory(tenant=tenant, campaign__ad_account=account, campaign__tenant=tenant)
            for day in range(1, 10):
                date = datetime.date(2026, 3, day)
                CampaignDailyMetricFactory(tenant=tenant, campaign=ad.campaign, date=date, spend=Decimal(100 * size))
                AdDailyMetricFactory(tenant=tenant, ad=ad, date=date, spend=Decimal(100 * size), landing_page_views=2)
    demo.seed(tenant=tenant, stdout=io.StringIO())
    first = snapshot()
    assert first["Client"] == 2 and first["ClientMembership"] == 6
    assert first["Task"] >= 2 * len(demo.TASKS) and first["TaskComment"] == 8
    assert first["Alert"] == 10 and first["AlertInstance"] > 0 and first["CreativeSubmission"] == 6
    assert first["Lead"] == 380
    assert LeadScoringModel.objects.get(client__name="Northwind Outdoor").method == "logistic_regression"
    assert AdAccount.objects.filter(client__isnull=False).count() == 3
    assert User.objects.filter(tenant=tenant, email__endswith="@stratum.local").count() == 4

    demo.seed(tenant=tenant, stdout=io.StringIO())
    assert snapshot() == first


def test_every_demo_user_signs_in_with_the_printed_password(db, settings, anon_client):
    """Client admins, members and viewers of the demo can be tried: they share the demo owner's printed password."""
    import re

    from django.core.management import call_command

    settings.RATELIMIT_ENABLED = False
    out = io.StringIO()
    call_command("seed_demo", "--only", "workflow", stdout=out)
    printed = out.getvalue()
    password = re.search(r"Demo login: demo@stratum\.local / (\S+)", printed).group(1)
    people = User.objects.filter(tenant__slug="demo").exclude(email="demo@stratum.local")
    assert people.count() == 4
    for person in people:
        assert person.email in printed
        response = anon_client.post("/api/v1/auth/login", {"email": person.email, "password": password},
                                    format="json")
        assert response.status_code == 200, (person.email, response.content)

    again = io.StringIO()  # a second seed keeps the password it printed before
    call_command("seed_demo", "--only", "workflow", stdout=again)
    assert "Demo login" not in again.getvalue()
    login = anon_client.post("/api/v1/auth/login", {"email": people.first().email, "password": password},
                             format="json")
    assert login.status_code == 200
