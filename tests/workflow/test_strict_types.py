"""Catalyst writes hold to the one strict-type rule (stratum/api/serializers.py): 123 is not a name."""
from __future__ import annotations

import pytest

from tests.api.test_strict_types import _refused
from tests.workflow.conftest import data
from tests.workflow.factories import TaskFactory
from workflow.models import Client, Task, TaskComment

pytestmark = pytest.mark.django_db


def test_catalyst_names_and_comments_must_be_strings(team, tenant):
    owner = team.api("owner")
    _refused(owner.post("/api/v1/clients", {"name": 123}, format="json"), "name", "Must be a string.")
    assert not Client.objects.for_tenant(tenant).filter(name="123").exists()
    _refused(owner.post("/api/v1/tasks", {"name": 123, "client_id": str(team.brand.pk)}, format="json"), "name",
             "Must be a string.")
    task = TaskFactory(tenant=tenant, client=team.brand)
    _refused(owner.patch(f"/api/v1/tasks/{task.pk}", {"name": 123}, format="json"), "name", "Must be a string.")
    assert Task.objects.for_tenant(tenant).get(pk=task.pk).name == task.name
    _refused(owner.post(f"/api/v1/tasks/{task.pk}/comments", {"comment": 5}, format="json"), "comment",
             "Must be a string.")
    assert not TaskComment.objects.for_tenant(tenant).exists()
    created = owner.post(f"/api/v1/tasks/{task.pk}/comments", {"comment": "Looks good"}, format="json")
    assert created.status_code == 201 and data(created)["comment"] == "Looks good"
