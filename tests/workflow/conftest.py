"""A client brand with one user per client role, and an outsider who cannot see it."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.accounts.factories import UserFactory
from tests.helpers import client_for
from tests.workflow.factories import ClientFactory, ClientMembershipFactory


@dataclass
class Team:
    brand: object
    owner: object
    admin: object
    member: object
    viewer: object
    outsider: object

    def api(self, who: str):
        return client_for(getattr(self, who))


@pytest.fixture
def team(tenant, user, settings):
    settings.RATELIMIT_ENABLED = False
    brand = ClientFactory(tenant=tenant, name="Acme Corp")
    people = {}
    for role in ("admin", "member", "viewer"):
        person = UserFactory(tenant=tenant, role="analyst", name=f"Client {role.title()}")
        ClientMembershipFactory(tenant=tenant, client=brand, user=person, role=role)
        people[role] = person
    outsider = UserFactory(tenant=tenant, role="manager", name="Outsider")
    return Team(brand=brand, owner=user, outsider=outsider, **people)


def data(response):
    """The Catalyst envelope's data, after checking the envelope itself."""
    body = response.json()
    assert set(body) == {"status_code", "message", "data"}, body
    assert body["status_code"] == response.status_code
    return body["data"]
