"""Privacy through the API: erase (nothing readable after, the next audience sync removes the person at the platform,
re-sent data is suppressed per item), subject export (exactly what was held, by a short-lived signed link),
suppress/unsuppress, consent and audiences, retention, the resumable task, every error path, tenant isolation."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from urllib.parse import parse_qs

import pytest
import time_machine
from django.apps import apps
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from cdp.models import (
    AudienceExport,
    AudienceMember,
    AudienceRemoval,
    Event,
    Identity,
    IdentityLink,
    PrivacyRequest,
    Profile,
    ProfileRfm,
    SegmentMembership,
    SuppressedIdentifier,
)
from cdp.services import exports as export_services
from cdp.services import privacy as privacy_services
from cdp.tasks import events_retention_task, privacy_requests_resume_all
from integrations.models import CrmContactLink
from integrations.versions import DEFAULT_VERSIONS
from stratum.api.tenancy import TenantOwned, tenant_scope
from tests.accounts.factories import TenantFactory, UserFactory
from tests.campaigns.factories import AdAccountFactory
from tests.cdp.factories import ProfileRfmFactory, SegmentFactory
from tests.helpers import assert_error, client_for, key_client_for
from tests.integrations.factories import ConnectionFactory
from trust.models import AuditLogEntry
from workflow.models import Lead

URL = "/api/v1/cdp/privacy/requests"
GRAPH = f"https://graph.facebook.com/{DEFAULT_VERSIONS['meta']}"
ADA = {"email": "ada@example.com", "phone": "+14155550100"}
BOB = {"email": "bob@example.com", "phone": "+14155550199"}
EVERYONE = {"operator": "or", "rules": [{"field": "lifecycle_stage", "operator": "equals", "value": v}
                                        for v in ("lead", "customer")]}


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def upsert(client, identifiers: dict, **traits):
    response = client.post("/api/v1/cdp/profiles", {"identifiers": identifiers, "traits": traits}, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def batch(client, events: list[dict]):
    response = client.post("/api/v1/cdp/events/batch", {"events": events}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def file_request(client, capture, **body):
    with capture(execute=True):
        response = client.post(URL, body, format="json")
    assert response.status_code == 202, response.content
    return client.get(f"{URL}/{response.json()['id']}").json()


def tenant_rows_text(tenant) -> str:
    """Every row of every tenant-owned table of this tenant, as text (to look for a person's data anywhere)."""
    chunks = []
    for model in apps.get_models():
        if issubclass(model, TenantOwned):
            chunks += [json.dumps(row, cls=DjangoJSONEncoder) for row in model.objects.for_tenant(tenant).values()]
    return "\n".join(chunks)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def meta(tenant, respx_mock):
    """A Meta ad account whose custom-audience API answers through respx."""
    with tenant_scope(tenant):
        connection = ConnectionFactory(tenant=tenant, provider="meta")
    AdAccountFactory(tenant=tenant, platform="meta", external_id="act_1", connection_id=connection.pk)
    respx_mock.get(f"{GRAPH}/act_1/customaudiences").respond(200, json={"data": [], "paging": {}})  # none yet
    respx_mock.post(f"{GRAPH}/act_1/customaudiences").respond(200, json={"id": "238"})
    added = respx_mock.post(f"{GRAPH}/238/users").respond(200, json={
        "audience_id": "238", "num_received": 2, "num_invalid_entries": 0})
    removed = respx_mock.delete(f"{GRAPH}/238/users").respond(200, json={
        "audience_id": "238", "num_received": 1, "num_invalid_entries": 0})
    return {"added": added, "removed": removed}


def payload_rows(call) -> list:
    return json.loads(parse_qs(call.request.content.decode())["payload"][0])["data"]


def audience_sync(client, audience_id, capture) -> dict:
    with capture(execute=True):
        response = client.post(f"/api/v1/cdp/audience-sync/audiences/{audience_id}/sync")
    assert response.status_code == 202, response.content
    return client.get(f"/api/v1/cdp/audience-sync/audiences/{audience_id}/history").json()["items"][0]


def meta_audience(client, segment) -> str:
    response = client.post("/api/v1/cdp/audience-sync/audiences", {
        "name": "Everyone", "segment_id": str(segment.pk), "platform": "meta",
        "platform_config": {"ad_account_id": "act_1"}, "sync_frequency": "daily"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_erase_leaves_nothing_and_the_next_sync_removes_the_person_at_the_platform(
        api_client, user, tenant, meta, media, monkeypatch, django_capture_on_commit_callbacks, respx_mock):
    capture = django_capture_on_commit_callbacks
    ada = upsert(api_client, ADA, first_name="Adelgunde")  # a needle no random token or hash will hold by chance
    bob = upsert(api_client, BOB, first_name="Bob")
    events = batch(api_client, [
        {"identifiers": {"email": ADA["email"]}, "event_type": "page_view", "message_id": "ada-1"},
        {"identifiers": {"phone": ADA["phone"]}, "event_type": "purchase", "properties": {"amount": 42.5},
         "message_id": "ada-2"},
        {"profile_id": ada["id"], "event_type": "login", "message_id": "ada-3"},
        {"identifiers": {"email": BOB["email"]}, "event_type": "purchase", "properties": {"amount": 10},
         "message_id": "bob-1"}])
    assert events["created"] == 4
    with tenant_scope(tenant):
        ProfileRfmFactory(tenant=tenant, profile=Profile.objects.get(pk=ada["id"]))
        Lead.objects.create(tenant=tenant, client=_client(tenant), email=ADA["email"], score=0.5,
                            cdp_profile_id=ada["id"], cdp_events=3)
        CrmContactLink.objects.create(tenant=tenant, connection=ConnectionFactory(tenant=tenant, provider="hubspot"),
                                      external_id="hs-1", profile_id=ada["id"],
                                      fields={"email": {"crm": ADA["email"], "cdp": ADA["email"]}})
    segment = SegmentFactory(tenant=tenant, name="Everyone", conditions=EVERYONE)
    audience_id = meta_audience(api_client, segment)
    first = audience_sync(api_client, audience_id, capture)
    assert (first["status"], first["added"], first["removed"]) == ("success", 2, 0)
    assert sorted(payload_rows(meta["added"].calls[0])) == sorted([[sha(ADA["email"]), sha("14155550100")],
                                                                   [sha(BOB["email"]), sha("14155550199")]])
    # A generated audience export that lists Ada, and one that lists only Bob.
    monkeypatch.setattr(export_services, "STREAM_MAX_ROWS", 0)
    monkeypatch.setattr("cdp.views.audiences.STREAM_MAX_ROWS", 0)
    nobody = SegmentFactory(tenant=tenant, name="Bobs", conditions={"operator": "and", "rules": [
        {"field": "traits.first_name", "operator": "equals", "value": "Bob"}]})
    with capture(execute=True):
        listing = api_client.post("/api/v1/cdp/audiences/export", {"segment_id": str(segment.pk)}, format="json")
        empty = api_client.post("/api/v1/cdp/audiences/export", {"segment_id": str(nobody.pk)}, format="json")
    assert listing.status_code == empty.status_code == 202
    with tenant_scope(tenant):
        listing_file = AudienceExport.objects.get(pk=listing.json()["id"]).file
    assert default_storage.exists(listing_file)

    crm_delete = respx_mock.post("https://api.hubapi.com/crm/v3/objects/contacts/gdpr-delete").respond(204)
    done = file_request(api_client, capture, type="erase", identifiers={"email": " ADA@example.com "},
                        reason="Ticket 4711")
    # The CRM is asked to delete the contact too, once the erasure committed.
    assert [json.loads(call.request.content) for call in crm_delete.calls] == [{"objectId": "hs-1"}]
    assert done["status"] == "completed" and done["profile_id"] is None and done["error"] == ""
    assert done["identifier_types"] == ["email"] and done["reason"] == "Ticket 4711" and done["attempts"] == 1
    assert done["counts"] == {"profiles": 1, "identifiers_suppressed": 3, "audience_removals": 1, "leads": 1,
                              "crm_contact_links": 1, "crm_deletions_requested": 1, "events": 3, "identities": 2, "segment_memberships": 1,
                              "exports_deleted": 1}
    assert done["download_url"] is None and done["completed_at"] >= done["started_at"] >= done["requested_at"]

    # Nothing of Ada is readable: not through the API, not in any row of the tenant, not in a file.
    assert_error(api_client.get(f"/api/v1/cdp/profiles/{ada['id']}"), 404, "NOT_FOUND")
    assert api_client.get("/api/v1/cdp/profiles", {"query": "ada"}).json()["total"] == 0
    assert api_client.get("/api/v1/cdp/events", {"profile_id": ada["id"]}).json()["total"] == 0
    assert api_client.get("/api/v1/cdp/events").json()["total"] == 1  # Bob's
    text = tenant_rows_text(tenant)
    for needle in (ADA["email"], "14155550100", ada["id"], "Adelgunde"):
        assert needle not in text, needle
    assert default_storage.exists(listing_file) is False
    with tenant_scope(tenant):
        assert AudienceExport.objects.filter(pk=empty.json()["id"]).exists()
        assert Lead.objects.count() == 0
        assert (Identity.objects.count(), Event.objects.count(), SegmentMembership.objects.count(),
                ProfileRfm.objects.count(), CrmContactLink.objects.count()) == (2, 1, 1, 0, 0)
        assert AudienceRemoval.objects.count() == 1  # hashes only, until the platform has the removal
        bob_profile = Profile.objects.get(pk=bob["id"])
        assert (bob_profile.total_orders, str(bob_profile.ltv)) == (1, "10.00")

    # The next sync removes Ada at Meta by the hashes it had received, and keeps Bob.
    second = audience_sync(api_client, audience_id, capture)
    assert (second["status"], second["added"], second["removed"]) == ("success", 0, 1)
    assert payload_rows(meta["removed"].calls[0]) == [[sha(ADA["email"]), sha("14155550100")]]
    with tenant_scope(tenant):
        assert AudienceRemoval.objects.count() == 0
        assert list(AudienceMember.objects.values_list("profile_id", flat=True)) == [Profile.objects.get().pk]
    assert audience_sync(api_client, audience_id, capture)["removed"] == 0

    # Ada's data sent again, by every path: suppressed per item, nothing created.
    again = batch(api_client, [
        {"identifiers": {"email": ADA["email"]}, "event_type": "page_view", "message_id": "ada-1"},
        {"identifiers": {"phone": ADA["phone"], "anonymous_id": "new-device"}, "event_type": "login"},
        {"profile_id": ada["id"], "event_type": "login"},
        {"identifiers": {"email": ADA["email"]}, "event_type": "page_view", "message_id": "ada-9"},
        {"identifiers": {"email": ADA["email"]}, "event_type": "page_view", "message_id": "ada-9"},
        {"identifiers": {"email": BOB["email"]}, "event_type": "page_view"}])
    assert (again["received"], again["created"], again["duplicates"], again["rejected"], again["suppressed"]) == (
        6, 1, 0, 0, 5)
    assert [r["status"] for r in again["results"]] == ["suppressed"] * 5 + ["created"]
    assert again["results"][0] == {"index": 0, "status": "suppressed"}
    track = api_client.post("/api/v1/cdp/events/track", {"identifiers": {"email": ADA["email"]},
                                                          "event_type": "page_view"}, format="json")
    assert (track.status_code, track.json()) == (200, {"id": None, "profile_id": None, "status": "suppressed",
                                                       "duplicate": False})
    assert_error(api_client.post("/api/v1/cdp/profiles", {"identifiers": {"email": ADA["email"]}}, format="json"),
                 409, "IDENTIFIER_SUPPRESSED")
    assert ADA["email"] not in tenant_rows_text(tenant)
    with tenant_scope(tenant):
        assert Profile.objects.count() == 1 and Event.objects.count() == 2

    # The audit log: who asked and what was done, nothing about the person.
    with tenant_scope(tenant):
        entries = list(AuditLogEntry.objects.filter(event="privacy").order_by("created_at"))
    assert [(e.decision, e.actor_type, e.action) for e in entries] == [
        ("requested", "user", "privacy_erase"), ("completed", "system", "privacy_erase")]
    assert entries[0].actor_id == str(user.pk) and entries[1].details["counts"] == done["counts"]
    assert entries[1].details["identifier_types"] == ["email"]


def _client(tenant):
    from workflow.models import Client

    return Client.objects.create(tenant=tenant, name="Brand")


def test_export_is_exactly_what_is_held_by_a_short_lived_link(api_client, anon_client, tenant, media, settings,
                                                               django_capture_on_commit_callbacks):
    settings.RATELIMIT_ENABLED = False  # the clock travels below; the limiter's buckets are not what is tested
    capture = django_capture_on_commit_callbacks
    ada = upsert(api_client, ADA, first_name="Ada", consent_ads=True)
    upsert(api_client, BOB)
    batch(api_client, [{"identifiers": {"email": ADA["email"]}, "event_type": "purchase",
                        "properties": {"amount": 12.5}, "timestamp": "2026-11-01T10:00:00Z", "message_id": "m1"},
                       {"identifiers": {"email": BOB["email"]}, "event_type": "purchase"}])
    segment = SegmentFactory(tenant=tenant, name="Buyers", conditions={"operator": "and", "rules": [
        {"field": "lifecycle_stage", "operator": "equals", "value": "customer"}]})
    api_client.post(f"/api/v1/cdp/segments/{segment.pk}/refresh")
    with time_machine.travel(timezone.now(), tick=False):
        done = file_request(api_client, capture, type="export", profile_id=ada["id"])
        expires = (timezone.now() + dt.timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
    assert done["status"] == "completed" and done["profile_id"] == ada["id"]
    assert done["counts"] == {"profiles": 1, "events": 1} and done["download_expires_at"] == expires
    link = done["download_url"]
    assert link.startswith("http://testserver/api/v1/cdp/privacy/downloads/")
    response = anon_client.get(link)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = json.loads(b"".join(response.streaming_content))

    with tenant_scope(tenant):
        profile = Profile.objects.get(pk=ada["id"])
        identities = list(Identity.objects.filter(profile=profile).order_by("created_at", "pk"))
        links = list(IdentityLink.objects.filter(profile=profile).order_by("created_at", "pk"))
        membership = SegmentMembership.objects.get(profile=profile)
        event = Event.objects.get(profile=profile)
    expected = {
        "request_id": done["id"], "generated_at": body["generated_at"],
        "profiles": [{
            "id": profile.pk, "merged_into": None, "email": ADA["email"], "phone": ADA["phone"], "external_id": "",
            "lifecycle_stage": "customer", "traits": {"first_name": "Ada", "consent_ads": True},
            "consent": {"ads": True, "email": None, "analytics": None}, "total_orders": 1, "ltv": profile.ltv,
            "last_purchase_at": profile.last_purchase_at, "last_seen_at": profile.last_seen_at,
            "created_at": profile.created_at, "updated_at": profile.updated_at,
            "identities": [{"type": i.type, "value": i.value, "source": i.source, "created_at": i.created_at}
                           for i in identities],
            "identity_log": [{"action": entry.action, "identifier_type": entry.identifier_type,
                              "identifier_value": entry.identifier_value, "reason": entry.reason,
                              "source": entry.source, "created_at": entry.created_at} for entry in links],
            "segments": [{"segment_id": segment.pk, "name": "Buyers", "added_at": membership.added_at,
                          "removed_at": None}],
            "audiences": [], "rfm": None}],
        "events": [{"id": event.pk, "profile_id": profile.pk, "event_type": "purchase", "timestamp": event.timestamp,
                    "properties": {"amount": 12.5}, "revenue": event.revenue, "message_id": "m1", "source": "batch",
                    "received_at": event.received_at}],
        "churn_predictions": [], "crm_contacts": [], "leads": []}
    assert body == json.loads(json.dumps(expected, cls=DjangoJSONEncoder))
    assert sorted(i["type"] for i in body["profiles"][0]["identities"]) == ["email", "phone"]

    # The link is short-lived and cannot be forged; the request's JSON itself names no one.
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        assert_error(anon_client.get(link), 404, "NOT_FOUND")
    assert_error(anon_client.get(link[:-3] + "abc"), 404, "NOT_FOUND")
    assert_error(anon_client.get("/api/v1/cdp/privacy/downloads/nonsense"), 404, "NOT_FOUND")
    with tenant_scope(tenant):
        assert PrivacyRequest.objects.get(pk=done["id"]).subject == ""

    # Files older than a week are deleted by the nightly task; the request then offers no link.
    with time_machine.travel(timezone.now() + dt.timedelta(days=8)):
        events_retention_task.delay(str(tenant.pk))
    assert api_client.get(f"{URL}/{done['id']}").json()["download_url"] is None
    assert_error(anon_client.get(link), 404, "NOT_FOUND")


def test_an_erasure_deletes_the_persons_earlier_subject_export(api_client, tenant, media,
                                                              django_capture_on_commit_callbacks):
    ada = upsert(api_client, ADA)
    export = file_request(api_client, django_capture_on_commit_callbacks, type="export", identifiers=ADA)
    with tenant_scope(tenant):
        name = PrivacyRequest.objects.get(pk=export["id"]).file
    assert default_storage.exists(name)
    erased = file_request(api_client, django_capture_on_commit_callbacks, type="erase", profile_id=ada["id"])
    assert erased["counts"]["exports_deleted"] == 1 and not default_storage.exists(name)
    assert api_client.get(f"{URL}/{export['id']}").json()["download_url"] is None


def test_suppress_and_unsuppress_without_erasing(api_client, tenant, django_capture_on_commit_callbacks):
    ada = upsert(api_client, ADA)
    done = file_request(api_client, django_capture_on_commit_callbacks, type="suppress", profile_id=ada["id"])
    assert done["counts"] == {"identifiers_suppressed": 3} and done["profile_id"] == ada["id"]
    assert api_client.get(f"/api/v1/cdp/profiles/{ada['id']}").status_code == 200  # held data stays
    sent = batch(api_client, [{"identifiers": {"phone": ADA["phone"]}, "event_type": "login"},
                              {"profile_id": ada["id"], "event_type": "login"}])
    assert sent["suppressed"] == 2
    with tenant_scope(tenant):
        digests = list(SuppressedIdentifier.objects.values_list("digest", flat=True))
    assert len(digests) == 3 and all(len(d) == 64 for d in digests)
    again = file_request(api_client, django_capture_on_commit_callbacks, type="suppress", identifiers=ADA)
    assert again["counts"] == {"identifiers_suppressed": 0}  # already suppressed: nothing new

    lifted = file_request(api_client, django_capture_on_commit_callbacks, type="unsuppress",
                          identifiers={"email": ADA["email"]})
    assert lifted["counts"] == {"identifiers_unsuppressed": 1}
    sent = batch(api_client, [{"identifiers": {"email": ADA["email"]}, "event_type": "login"},
                              {"identifiers": {"phone": ADA["phone"]}, "event_type": "login"}])
    assert [r["status"] for r in sent["results"]] == ["created", "suppressed"]


def test_consent_keeps_people_out_of_audiences_and_withdrawal_removes_them(
        api_client, tenant, meta, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    ada, bob = upsert(api_client, ADA), upsert(api_client, BOB)
    assert api_client.get(f"/api/v1/cdp/profiles/{ada['id']}/consent").json() == {
        "ads": None, "email": None, "analytics": None}
    segment = SegmentFactory(tenant=tenant, name="Everyone", conditions=EVERYONE)
    audience_id = meta_audience(api_client, segment)
    assert audience_sync(api_client, audience_id, capture)["added"] == 2  # consent not required: all but withdrawn

    # Ada withdraws ads consent by an event; the next sync removes her.
    withdrawn = batch(api_client, [{"identifiers": {"email": ADA["email"]}, "event_type": "consent_updated",
                                    "properties": {"ads": False, "email": True}}])
    assert withdrawn["created"] == 1
    assert api_client.get(f"/api/v1/cdp/profiles/{ada['id']}/consent").json() == {
        "ads": False, "email": True, "analytics": None}
    run = audience_sync(api_client, audience_id, capture)
    assert (run["added"], run["removed"]) == (0, 1)
    assert payload_rows(meta["removed"].calls[0]) == [[sha(ADA["email"]), sha("14155550100")]]

    # The tenant requires consent: Bob (never asked) goes too; granting it through the API brings him back.
    settings = api_client.patch("/api/v1/cdp/privacy/settings", {"require_ads_consent": True}, format="json")
    assert settings.json()["require_ads_consent"] is True
    assert (audience_sync(api_client, audience_id, capture)["removed"]) == 1
    granted = api_client.patch(f"/api/v1/cdp/profiles/{bob['id']}/consent", {"ads": True}, format="json")
    assert granted.json() == {"ads": True, "email": None, "analytics": None}
    assert audience_sync(api_client, audience_id, capture)["added"] == 1
    with tenant_scope(tenant):
        assert list(AudienceMember.objects.values_list("profile_id", flat=True)) == [Profile.objects.get(
            pk=bob["id"]).pk]

    # Consent is a boolean, by every path.
    bad = api_client.patch(f"/api/v1/cdp/profiles/{bob['id']}/consent", {"ads": "yes"}, format="json")
    assert "ads" in assert_error(bad, 422, "VALIDATION_ERROR")["errors"]
    bad = api_client.patch(f"/api/v1/cdp/profiles/{bob['id']}", {"traits": {"consent_email": 1}}, format="json")
    assert "traits.consent_email" in assert_error(bad, 422, "VALIDATION_ERROR")["errors"]
    rejected = batch(api_client, [{"identifiers": {"email": BOB["email"]}, "event_type": "consent_updated",
                                   "properties": {"ads": "no", "sms": True}}])["results"][0]
    assert rejected["status"] == "rejected" and set(rejected["errors"]) == {"properties.ads", "properties.sms"}


def test_retention_deletes_old_raw_events_in_batches_and_keeps_totals(api_client, tenant):
    ada = upsert(api_client, ADA)
    now = timezone.now()
    batch(api_client, [{"profile_id": ada["id"], "event_type": "purchase", "properties": {"amount": 5},
                        "timestamp": (now - dt.timedelta(days=days)).isoformat()} for days in (400, 200, 40, 1)])
    body = api_client.get("/api/v1/cdp/privacy/settings").json()
    assert body == {"require_ads_consent": False, "event_retention_days": None, "max_event_retention_days": 1825,
                    "effective_event_retention_days": 1825}
    over = api_client.patch("/api/v1/cdp/privacy/settings", {"event_retention_days": 2000}, format="json")
    assert "event_retention_days" in assert_error(over, 422, "VALIDATION_ERROR")["errors"]
    for bad in ({"event_retention_days": 0}, {"event_retention_days": "30"}, {"require_ads_consent": "yes"},
                {"retention": 3}):
        assert_error(api_client.patch("/api/v1/cdp/privacy/settings", bad, format="json"), 422, "VALIDATION_ERROR")
    body = api_client.patch("/api/v1/cdp/privacy/settings", {"event_retention_days": 100}, format="json").json()
    assert (body["event_retention_days"], body["effective_event_retention_days"]) == (100, 100)
    with tenant_scope(tenant):
        assert privacy_services.events_retention_apply(tenant=tenant, batch=1) == 2
        profile = Profile.objects.get(pk=ada["id"])
        assert Event.objects.count() == 2
    assert (profile.total_orders, str(profile.ltv)) == (4, "20.00")  # derived totals are kept
    # A plan bounds it: starter keeps at most 365 days, also a longer setting made on a bigger plan.
    api_client.patch("/api/v1/cdp/privacy/settings", {"event_retention_days": 700}, format="json")
    tenant.plan = "starter"
    tenant.save()
    body = api_client.get("/api/v1/cdp/privacy/settings").json()
    assert (body["event_retention_days"], body["effective_event_retention_days"]) == (700, 365)
    starter = TenantFactory(plan="starter")
    owner = client_for(UserFactory(tenant=starter, role="owner"))
    assert owner.get("/api/v1/cdp/privacy/settings").json()["effective_event_retention_days"] == 365


def test_the_task_claims_once_and_resumes_a_request_whose_worker_died(api_client, tenant, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    ada = upsert(api_client, ADA)
    queued = []
    monkeypatch.setattr(privacy_services, "task_enqueue", lambda **kwargs: queued.append(kwargs))
    response = api_client.post(URL, {"type": "erase", "profile_id": ada["id"]}, format="json")
    assert response.json()["status"] == "pending" and len(queued) == 1
    request_id = response.json()["id"]
    now = timezone.now()
    with tenant_scope(tenant):
        # A worker took it and died: running, its lease silent for 10 minutes.
        PrivacyRequest.objects.filter(pk=request_id).update(status="running", started_at=now - dt.timedelta(minutes=10),
                                                            heartbeat_at=now - dt.timedelta(minutes=10), attempts=1)
        assert privacy_services.privacy_request_process(tenant=tenant, request_id=request_id,
                                                        now=now - dt.timedelta(minutes=6)) is None  # still leased
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        privacy_requests_resume_all.delay()
    done = api_client.get(f"{URL}/{request_id}").json()
    assert (done["status"], done["attempts"], done["counts"]["profiles"]) == ("completed", 2, 1)
    with tenant_scope(tenant):
        assert privacy_services.privacy_request_process(tenant=tenant, request_id=request_id) is None  # done: no-op
    assert api_client.get(f"{URL}/{request_id}").json() == done


def test_errors_roles_scopes_and_tenant_isolation(api_client, user, tenant, django_capture_on_commit_callbacks):
    ada = upsert(api_client, ADA)
    for body, field in (({"type": "delete", "profile_id": ada["id"]}, "type"),
                        ({"type": "erase"}, "profile_id"),
                        ({"type": "erase", "identifiers": {}}, "identifiers"),
                        ({"type": "erase", "profile_id": "not-a-uuid"}, "profile_id"),
                        ({"type": "erase", "identifiers": {"email": "not-an-email"}}, "identifiers.email"),
                        ({"type": "erase", "identifiers": {"passport": "X1"}}, "identifiers.passport"),
                        ({"type": "erase", "identifiers": {"email": 5}}, "identifiers.email"),
                        ({"type": "erase", "profile_id": ada["id"], "reason": "x" * 501}, "reason"),
                        ({"type": "erase", "profile_id": ada["id"], "status": "completed"}, "status")):
        error = assert_error(api_client.post(URL, body, format="json"), 422, "VALIDATION_ERROR")
        assert field in error["errors"], (body, error)
    assert_error(api_client.post(URL, [], format="json"), 422, "VALIDATION_ERROR")
    missing = assert_error(api_client.post(URL, {"type": "erase", "profile_id": "00000000-0000-4000-8000-000000000000"},
                                           format="json"), 404, "NOT_FOUND")
    assert missing["detail"] == "Profile not found."
    assert_error(api_client.get(f"{URL}/00000000-0000-4000-8000-000000000000"), 404, "NOT_FOUND")
    assert_error(api_client.get(f"{URL}/nonsense"), 404, "NOT_FOUND")
    with tenant_scope(tenant):
        assert PrivacyRequest.objects.count() == 0

    # Owners and admins only; keys need the privacy scope (write:privacy includes read:privacy).
    manager = client_for(UserFactory(tenant=tenant, role="manager"))
    assert_error(manager.get(URL), 403, "FORBIDDEN")
    assert_error(manager.post(URL, {"type": "export", "profile_id": ada["id"]}, format="json"), 403, "FORBIDDEN")
    assert_error(key_client_for(user, ["write:cdp"]).get(URL), 403, "FORBIDDEN")
    reader = key_client_for(user, ["read:privacy"])
    assert reader.get(URL).status_code == 200
    assert_error(reader.post(URL, {"type": "export", "profile_id": ada["id"]}, format="json"), 403, "FORBIDDEN")
    writer = key_client_for(user, ["write:privacy"])
    with django_capture_on_commit_callbacks(execute=True):
        filed = writer.post(URL, {"type": "suppress", "identifiers": {"email": "x@example.com"}}, format="json")
    assert filed.status_code == 202 and writer.get(URL).json()["total"] == 1
    with tenant_scope(tenant):
        assert AuditLogEntry.objects.filter(event="privacy", decision="requested").get().actor_type == "api_key"

    # Another tenant: sees none of it, cannot name Ada, and its own Ada is a different person.
    other = TenantFactory(plan="enterprise")
    stranger = client_for(UserFactory(tenant=other, role="owner"))
    assert stranger.get(URL).json()["total"] == 0
    assert_error(stranger.get(f"{URL}/{filed.json()['id']}"), 404, "NOT_FOUND")
    assert_error(stranger.post(URL, {"type": "erase", "profile_id": ada["id"]}, format="json"), 404, "NOT_FOUND")
    theirs = upsert(stranger, ADA)
    with django_capture_on_commit_callbacks(execute=True):
        stranger.post(URL, {"type": "erase", "identifiers": {"email": ADA["email"]}}, format="json")
    assert api_client.get(f"/api/v1/cdp/profiles/{ada['id']}").status_code == 200  # ours is untouched
    assert_error(stranger.get(f"/api/v1/cdp/profiles/{theirs['id']}"), 404, "NOT_FOUND")
    assert batch(api_client, [{"identifiers": {"email": ADA["email"]}, "event_type": "login"}])["created"] == 1
    assert batch(stranger, [{"identifiers": {"email": ADA["email"]}, "event_type": "login"}])["suppressed"] == 1
    # The same address is suppressed under a different key in each tenant.
    with tenant_scope(other):
        theirs_digests = set(SuppressedIdentifier.objects.values_list("digest", flat=True))
    with tenant_scope(tenant):
        ours_digests = set(SuppressedIdentifier.objects.values_list("digest", flat=True))
    assert not theirs_digests & ours_digests


def test_the_schema_documents_privacy_and_its_scope(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/cdp/privacy/requests"])
    assert "get" in paths["/api/v1/cdp/privacy/requests/{id}"]
    assert {"get", "patch"} <= set(paths["/api/v1/cdp/privacy/settings"])
    assert "get" in paths["/api/v1/cdp/privacy/downloads/{token}"]
    created = paths["/api/v1/cdp/privacy/requests"]["post"]["responses"]
    assert {"202", "404", "422"} <= set(created)
    text = json.dumps(schema)
    assert "write:privacy" in text and "IDENTIFIER_SUPPRESSED" in text


def test_a_failed_request_is_recorded_and_audited_without_personal_data(api_client, tenant, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    upsert(api_client, ADA)

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(privacy_services, "subject_export", broken)
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        api_client.post(URL, {"type": "export", "identifiers": {"email": ADA["email"]}}, format="json")
    with tenant_scope(tenant):
        request = PrivacyRequest.objects.get()
        decisions = list(AuditLogEntry.objects.filter(event="privacy").order_by("created_at")
                         .values_list("decision", flat=True))
    assert (request.status, request.subject, request.error) == (
        "failed", "", "INTERNAL_ERROR: the request failed; file it again.")
    assert decisions == ["requested", "failed"]
    assert api_client.get(f"{URL}/{request.pk}").json()["status"] == "failed"


def test_segment_compatible_sources_drop_an_erased_person(api_client, client, tenant,
                                                          django_capture_on_commit_callbacks):
    import base64

    from cdp.services.sources import source_create

    write_key = source_create(tenant=tenant, name="backend", kind="server")[1]
    auth = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}

    def send(path, body):
        return client.post(f"/v1/{path}", json.dumps(body), content_type="application/json", **auth)

    assert send("identify", {"userId": "u-1", "traits": {"email": ADA["email"]}, "messageId": "s-1"}).status_code == 200
    with tenant_scope(tenant):
        ada = Profile.objects.get()
    file_request(api_client, django_capture_on_commit_callbacks, type="erase", profile_id=str(ada.pk))
    for path, body in (("identify", {"userId": "u-1", "traits": {"plan": "pro"}, "messageId": "s-2"}),
                       ("track", {"userId": "u-1", "event": "Order Completed", "messageId": "s-3"}),
                       ("track", {"anonymousId": "a-9", "event": "Viewed", "context": {"traits": {
                           "email": ADA["email"]}}, "messageId": "s-4"})):
        response = send(path, body)
        assert response.status_code == 200 and response.json() == {"success": True}  # Segment's answer, always
    with tenant_scope(tenant):
        assert (Profile.objects.count(), Event.objects.count(), Identity.objects.count()) == (0, 0, 0)
