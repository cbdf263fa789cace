"""Fixtures of the Segment SDK tests (test_segment_sdks.py, test_segment_browser.py)."""
from __future__ import annotations

import pytest

from accounts.services import tokens_for_user
from tests.accounts.factories import TenantFactory, UserFactory


@pytest.fixture
def segment_world(transactional_db):
    """A tenant for a live server to ingest into, and its owner's access token to read back through the API."""
    tenant = TenantFactory(plan="enterprise")
    owner = UserFactory(tenant=tenant, role="owner")
    return tenant, tokens_for_user(user=owner)["access_token"]
