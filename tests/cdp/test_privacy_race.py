"""An erasure racing the ingestion of the same person, for real: threads released together through a barrier, each
with its own connection to PostgreSQL, calling the API in-process (the erasure's task runs when its request commits).

Whatever the interleaving, afterwards nothing of the person is left: an ingestion that committed first was erased,
one that came after found the identifiers suppressed. Every item is answered created or suppressed (no error), and
the tenant's CDP invariants hold."""
from __future__ import annotations

import os
import threading
from collections import Counter

import pytest
from django.db import connection

from cdp.models import Event, Identity, PrivacyRequest, Profile
from stratum.api.tenancy import tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.helpers import client_for

from .invariants import cdp_invariant_violations

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="concurrent transactions need PostgreSQL (SQLite serialises writers)"),
    pytest.mark.django_db(transaction=True),
]

ROUNDS = 6
INGESTERS = 4
BATCHES = 6  # per ingesting thread
EVENTS = 5


def person(round_no: int) -> dict:
    return {"email": f"r{round_no}@race.example", "phone": f"+1415666{round_no:04d}"}


def at_once(calls: list) -> list:
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return results


def test_erasure_racing_ingestion_of_the_same_person_leaves_nothing(settings):
    settings.RATELIMIT_ENABLED = False
    tenant = TenantFactory(plan="enterprise")
    owner = UserFactory(tenant=tenant, role="owner")
    setup = client_for(owner)
    seen: Counter = Counter()
    for round_no in range(ROUNDS):
        ids = person(round_no)
        assert setup.post("/api/v1/cdp/profiles", {"identifiers": ids}, format="json").status_code == 201
        setup.post("/api/v1/cdp/events/batch", {"events": [
            {"identifiers": {"email": ids["email"]}, "event_type": "purchase", "properties": {"amount": 3}}]},
            format="json")

        def ingest(thread_no: int, ids=ids, round_no=round_no):
            def call():
                client, answers = client_for(owner), []
                for b in range(BATCHES):  # one after another, so that the erasure lands in between
                    events = [{"identifiers": {**({"email": ids["email"]} if n % 2 else {"phone": ids["phone"]}),
                                               "anonymous_id": f"dev-{round_no}-{thread_no}-{b}-{n}"},
                               "event_type": "page_view", "properties": {"round": round_no}} for n in range(EVENTS)]
                    answers.append(client.post("/api/v1/cdp/events/batch", {"events": events}, format="json"))
                return answers
            return call

        def erase(ids=ids):
            return client_for(owner).post("/api/v1/cdp/privacy/requests",
                                          {"type": "erase", "identifiers": {"email": ids["email"]}}, format="json")

        responses = at_once([ingest(n) for n in range(INGESTERS)] + [erase])
        for response in [answer for answers in responses[:INGESTERS] for answer in answers]:
            assert response.status_code == 200, response.content
            assert {r["status"] for r in response.json()["results"]} <= {"created", "suppressed"}
            seen.update(r["status"] for r in response.json()["results"])
        assert responses[-1].status_code == 202, responses[-1].content
        with tenant_scope(tenant):
            request = PrivacyRequest.objects.get(pk=responses[-1].json()["id"])
            assert request.status == "completed", (request.status, request.error)
            assert not Identity.objects.filter(value__in=[ids["email"], ids["phone"]]).exists()
            assert not Identity.objects.filter(value__startswith=f"dev-{round_no}-").exists()
            assert not Event.objects.filter(properties__round=round_no).exists()
    with tenant_scope(tenant):
        assert Profile.objects.count() == 0 and Event.objects.count() == 0 and Identity.objects.count() == 0
        assert cdp_invariant_violations(tenant) == []
    # Both happened: items stored before the erasure (and erased by it), items suppressed after it.
    assert seen["created"] and seen["suppressed"], seen
    # Sent again after the storm: every item suppressed.
    again = setup.post("/api/v1/cdp/events/batch", {"events": [
        {"identifiers": person(n), "event_type": "page_view"} for n in range(ROUNDS)]}, format="json").json()
    assert again["suppressed"] == ROUNDS
