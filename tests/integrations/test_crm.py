"""CRM connectors (HubSpot, Salesforce, Pipedrive, Zoho) and CRM sync into and out of the CDP."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from accounts.models import Notification
from cdp.models import Identity, Profile
from cdp.services import profile_update
from integrations.crm import crm_connector_for
from integrations.crm.base import ContactUpdate
from integrations.models import CrmContactLink, CrmSyncRun
from stratum.api.tenancy import tenant_scope
from tests.cdp.factories import SegmentFactory, SegmentMembershipFactory
from tests.helpers import assert_error, client_for

from .factories import ConnectionFactory, CrmSyncRunFactory

HS = "https://api.hubapi.com/crm/v3/objects/contacts"
SF = "https://brand.my.salesforce.com/services/data/v61.0"
PD = "https://brand.pipedrive.com/api/v2/persons"
ZOHO = "https://www.zohoapis.eu/crm/v7/Contacts"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hs_contact(cid: str, modified: str, history: dict[str, list[tuple[str, str]]], **props):
    properties = {"hs_object_id": cid, "lastmodifieddate": modified, **props}
    return {"id": cid, "properties": properties, "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": modified,
            "archived": False,
            "propertiesWithHistory": {name: [{"value": v, "timestamp": t, "sourceType": "CRM_UI", "sourceId": "1"}
                                             for v, t in entries] for name, entries in history.items()}}


def mock_hubspot(respx_mock, contacts: list[dict]):
    """Search answers the ids (two pages), batch/read the properties with history."""
    pages = [contacts[:1], contacts[1:]] if len(contacts) > 1 else [contacts]

    def search(request):
        body = json.loads(request.content)
        page = int(body.get("after") or 0)
        results = [{"id": c["id"], "properties": {"lastmodifieddate": c["properties"]["lastmodifieddate"]},
                    "createdAt": c["createdAt"], "updatedAt": c["updatedAt"], "archived": False} for c in pages[page]]
        answer = {"total": len(contacts), "results": results}
        if page + 1 < len(pages):
            answer["paging"] = {"next": {"after": str(page + 1), "link": "https://api.hubapi.com/..."}}
        return httpx.Response(200, json=answer)

    def batch_read(request):
        ids = [i["id"] for i in json.loads(request.content)["inputs"]]
        return httpx.Response(200, json={"status": "COMPLETE", "results": [c for c in contacts if c["id"] in ids],
                                         "startedAt": "2026-03-01T00:00:00Z", "completedAt": "2026-03-01T00:00:01Z"})

    return (respx_mock.post(f"{HS}/search").mock(side_effect=search),
            respx_mock.post(f"{HS}/batch/read").mock(side_effect=batch_read))


@pytest.fixture
def hubspot(user):
    return ConnectionFactory(tenant=user.tenant, provider="hubspot")


def sync(client, provider="hubspot", direction="bidirectional", capture=None):
    client = client_for(client.user)  # a token issued at the (possibly travelled) current time
    with capture(execute=True):
        response = client.post("/api/v1/integrations/crm/sync", {"provider": provider, "direction": direction},
                               format="json")
    assert response.status_code == 202, response.content
    return response.json()


# --- connectors -------------------------------------------------------------------------------

def test_hubspot_pull_reads_per_property_change_times(tenant, hubspot, respx_mock):
    contact = hs_contact("101", "2026-03-02T10:00:00.000Z", {"firstname": [("Ada", "2026-03-01T09:00:00.000Z")],
                                                           "email": [("ada@example.com", "2026-02-01T00:00:00.000Z")]},
                         email="ada@example.com", firstname="Ada", lastname="Lovelace", lifecyclestage="opportunity")
    search, read = mock_hubspot(respx_mock, [contact, hs_contact("102", "2026-03-03T00:00:00.000Z", {},
                                                                 email="bob@example.com")])
    with tenant_scope(tenant):
        contacts = list(crm_connector_for(hubspot).pull_contacts(since=at("2026-03-01T00:00:00")))
    first = contacts[0]
    assert [c.external_id for c in contacts] == ["101", "102"]
    assert first.values == {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
                            "lifecycle_stage": "lead"}
    assert first.changed_at("first_name") == at("2026-03-01T09:00:00")
    assert first.changed_at("last_name") == at("2026-03-02T10:00:00")  # no history: the record's time
    body = json.loads(search.calls[0].request.content)
    assert body["filterGroups"][0]["filters"][0] == {"propertyName": "lastmodifieddate", "operator": "GTE",
                                                     "value": "1772323200000"}
    assert body["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert "firstname" in json.loads(read.calls[0].request.content)["propertiesWithHistory"]


def test_hubspot_push_reports_partial_failures(tenant, hubspot, respx_mock):
    route = respx_mock.post(f"{HS}/batch/update").respond(207, json={
        "status": "COMPLETE", "results": [{"id": "101", "properties": {"jobtitle": "CTO"}}],
        "numErrors": 1, "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND",
                                    "message": "Contact 999 does not exist", "context": {"ids": ["999"]}}]})
    with tenant_scope(tenant):
        result = crm_connector_for(hubspot).push_contacts([
            ContactUpdate("101", {"job_title": "CTO", "ltv": "120.50"}), ContactUpdate("999", {"job_title": "X"})])
    assert json.loads(route.calls[0].request.content) == {"inputs": [
        {"id": "101", "properties": {"jobtitle": "CTO"}}, {"id": "999", "properties": {"jobtitle": "X"}}]}
    assert result.pushed == 1 and result.failed == [("999", "Contact 999 does not exist")]


def test_each_crm_deletes_contacts_for_a_privacy_erasure(tenant, hubspot, respx_mock):
    """HubSpot's GDPR delete per contact, Salesforce's and Zoho's collection deletes, Pipedrive's per person: a contact
    already gone counts as deleted, a refusal is reported per contact."""
    gdpr = respx_mock.post(f"{HS}/gdpr-delete").mock(side_effect=[
        httpx.Response(204), httpx.Response(404, json={"status": "error", "message": "Object not found"}),
        httpx.Response(400, json={"status": "error", "message": "Invalid objectId", "category": "VALIDATION_ERROR"})])
    with tenant_scope(tenant):
        salesforce = ConnectionFactory(tenant=tenant, provider="salesforce", token_expires_at=None,
                                       metadata={"instance_url": "https://brand.my.salesforce.com"})
        pipedrive = ConnectionFactory(tenant=tenant, provider="pipedrive",
                                      metadata={"api_domain": "https://brand.pipedrive.com"})
        zoho = ConnectionFactory(tenant=tenant, provider="zoho", metadata={
            "api_domain": "https://www.zohoapis.eu", "accounts_server": "https://accounts.zoho.eu"})
        hs = crm_connector_for(hubspot).delete_contacts(["101", "102", "bad"])
    assert [json.loads(call.request.content) for call in gdpr.calls] == [
        {"objectId": "101"}, {"objectId": "102"}, {"objectId": "bad"}]
    assert hs.pushed == 2 and [external_id for external_id, _ in hs.failed] == ["bad"]

    sf_route = respx_mock.delete(f"{SF}/composite/sobjects").respond(200, json=[
        {"id": "003A", "success": True, "errors": []},
        {"id": "003B", "success": False, "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "deleted"}]},
        {"id": "003C", "success": False, "errors": [{"statusCode": "DELETE_FAILED", "message": "has cases"}]}])
    pd_route = respx_mock.delete(f"{PD}/11").respond(200, json={"success": True, "data": {"id": 11}})
    zoho_route = respx_mock.delete(ZOHO).respond(200, json={"data": [
        {"code": "SUCCESS", "details": {"id": "415"}, "message": "record deleted", "status": "success"}]})
    with tenant_scope(tenant):
        sf = crm_connector_for(salesforce).delete_contacts(["003A", "003B", "003C"])
        pd = crm_connector_for(pipedrive).delete_contacts(["11"])
        zh = crm_connector_for(zoho).delete_contacts(["415"])
    assert dict(sf_route.calls[0].request.url.params) == {"ids": "003A,003B,003C", "allOrNone": "false"}
    assert sf.pushed == 2 and sf.failed == [("003C", "has cases")]
    assert pd_route.called and (pd.pushed, pd.failed) == (1, [])
    assert dict(zoho_route.calls[0].request.url.params) == {"ids": "415"} and (zh.pushed, zh.failed) == (1, [])


def test_salesforce_soql_pull_follows_next_records_url_and_pushes_collections(tenant, respx_mock):
    connection = ConnectionFactory(tenant=tenant, provider="salesforce", token_expires_at=None,
                                   metadata={"instance_url": "https://brand.my.salesforce.com"})
    query = respx_mock.get(f"{SF}/query").respond(200, json={
        "totalSize": 2, "done": False, "nextRecordsUrl": "/services/data/v61.0/query/01gD0000002HU6KIAW-2000",
        "records": [{"attributes": {"type": "Contact", "url": "/services/data/v61.0/sobjects/Contact/003A"},
                     "Id": "003A", "Email": "ada@example.com", "FirstName": "Ada", "LastName": "Lovelace",
                     "Title": None, "Phone": "+1 555 201 0000", "LastModifiedDate": "2026-03-01T10:00:00.000+0000"}]})
    respx_mock.get(f"{SF}/query/01gD0000002HU6KIAW-2000").respond(200, json={
        "totalSize": 2, "done": True, "records": [
            {"attributes": {"type": "Contact"}, "Id": "003B", "Email": "bob@example.com",
             "LastModifiedDate": "2026-03-02T10:00:00.000+0000"}]})
    with tenant_scope(tenant):
        connector = crm_connector_for(connection)
        contacts = list(connector.pull_contacts(since=at("2026-02-28T00:00:00")))
    assert [(c.external_id, c.modified_at) for c in contacts] == [("003A", at("2026-03-01T10:00:00")),
                                                                  ("003B", at("2026-03-02T10:00:00"))]
    assert contacts[0].values == {"email": "ada@example.com", "phone": "+1 555 201 0000", "first_name": "Ada",
                                  "last_name": "Lovelace"}
    soql = query.calls[0].request.url.params["q"]
    assert soql.startswith("SELECT Id, LastModifiedDate, ") and "FROM Contact WHERE LastModifiedDate >= " \
        "2026-02-28T00:00:00Z ORDER BY LastModifiedDate ASC" in soql
    push = respx_mock.patch(f"{SF}/composite/sobjects").respond(200, json=[
        {"id": "003A", "success": True, "errors": []},
        {"success": False, "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted",
                                       "fields": []}]}])
    with tenant_scope(tenant):
        result = connector.push_contacts([ContactUpdate("003A", {"job_title": "CTO"}),
                                          ContactUpdate("003Z", {"job_title": "CFO"})])
    assert json.loads(push.calls[0].request.content) == {"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "id": "003A", "Title": "CTO"},
        {"attributes": {"type": "Contact"}, "id": "003Z", "Title": "CFO"}]}
    assert result.pushed == 1 and result.failed == [("003Z", "entity is deleted")]


def test_salesforce_mapping_cannot_inject_soql(tenant, api_client, user):
    ConnectionFactory(tenant=user.tenant, provider="salesforce", metadata={"instance_url": "https://x.my.salesforce.com"})
    response = api_client.patch("/api/v1/integrations/crm/salesforce/settings",
                                 {"field_mapping": {"company": "Name FROM User --"}}, format="json")
    assert_error(response, 422, "VALIDATION_ERROR")


def test_pipedrive_persons_cursor_and_patch(tenant, respx_mock):
    connection = ConnectionFactory(tenant=tenant, provider="pipedrive",
                                   metadata={"api_domain": "https://brand.pipedrive.com"})
    route = respx_mock.get(PD).mock(side_effect=[
        httpx.Response(200, json={"success": True, "data": [
            {"id": 11, "name": "Ada Lovelace", "first_name": "Ada", "last_name": "Lovelace",
             "emails": [{"value": "ada@work.example", "primary": False, "label": "work"},
                        {"value": "ada@example.com", "primary": True, "label": "home"}],
             "phones": [{"value": "+15552010000", "primary": True, "label": "mobile"}],
             "update_time": "2026-03-01T10:00:00Z", "add_time": "2026-01-01T00:00:00Z", "custom_fields": {}}],
            "additional_data": {"next_cursor": "eyJpZCI6MTF9"}}),
        httpx.Response(200, json={"success": True, "data": [
            {"id": 12, "name": "Bob", "first_name": "Bob", "emails": [], "phones": [],
             "update_time": "2026-03-02T10:00:00Z"}], "additional_data": {"next_cursor": None}})])
    with tenant_scope(tenant):
        connector = crm_connector_for(connection)
        contacts = list(connector.pull_contacts(since=at("2026-02-01T00:00:00")))
    assert contacts[0].values == {"email": "ada@example.com", "phone": "+15552010000", "first_name": "Ada",
                                  "last_name": "Lovelace"}
    assert route.calls[0].request.url.params["updated_since"] == "2026-02-01T00:00:00Z"
    assert route.calls[1].request.url.params["cursor"] == "eyJpZCI6MTF9"
    patch = respx_mock.patch(f"{PD}/11").respond(200, json={"success": True, "data": {"id": 11}})
    with tenant_scope(tenant):
        result = connector.push_contacts([ContactUpdate("11", {"first_name": "Augusta", "email": "ada@new.example"})])
    assert json.loads(patch.calls[0].request.content) == {
        "first_name": "Augusta", "emails": [{"value": "ada@new.example", "primary": True, "label": "work"}]}
    assert result.pushed == 1


def test_zoho_pull_with_if_modified_since_and_put(tenant, respx_mock):
    connection = ConnectionFactory(tenant=tenant, provider="zoho", metadata={
        "api_domain": "https://www.zohoapis.eu", "accounts_server": "https://accounts.zoho.eu"})
    route = respx_mock.get(ZOHO).mock(side_effect=[
        httpx.Response(200, json={"data": [{"id": "4150868000000224005", "Email": "ada@example.com",
                                            "First_Name": "Ada", "Last_Name": "Lovelace",
                                            "Modified_Time": "2026-03-01T15:30:00+05:30"}],
                                  "info": {"per_page": 200, "count": 1, "page": 1, "more_records": True}}),
        httpx.Response(200, json={"data": [{"id": "4150868000000224006", "Email": "bob@example.com",
                                            "Modified_Time": "2026-03-02T10:00:00+00:00"}],
                                  "info": {"per_page": 200, "count": 1, "page": 2, "more_records": False}})])
    with tenant_scope(tenant):
        connector = crm_connector_for(connection)
        contacts = list(connector.pull_contacts(since=at("2026-02-01T00:00:00")))
    assert contacts[0].modified_at == at("2026-03-01T10:00:00")
    request = route.calls[0].request
    assert request.headers["Authorization"] == "Zoho-oauthtoken access-token-1"
    assert request.headers["If-Modified-Since"] == "2026-02-01T00:00:00+00:00"
    assert route.calls[1].request.url.params["page"] == "2"
    respx_mock.get(ZOHO).respond(304)
    with tenant_scope(tenant):
        assert list(connector.pull_contacts(since=at("2026-03-05T00:00:00"))) == []
    put = respx_mock.put(ZOHO).respond(200, json={"data": [
        {"code": "SUCCESS", "details": {"id": "4150868000000224005"}, "message": "record updated", "status": "success"},
        {"code": "INVALID_DATA", "details": {"api_name": "Email"}, "message": "invalid data", "status": "error"}]})
    with tenant_scope(tenant):
        result = connector.push_contacts([ContactUpdate("4150868000000224005", {"job_title": "CTO"}),
                                          ContactUpdate("4150868000000224006", {"email": "not-an-email"})])
    assert json.loads(put.calls[0].request.content)["data"][0] == {"id": "4150868000000224005", "Title": "CTO"}
    assert result.pushed == 1 and result.failed == [("4150868000000224006", "INVALID_DATA: invalid data")]
    # Every record refused: Zoho answers 400 with the per-record answers; they are per-contact failures.
    respx_mock.put(ZOHO).respond(400, json={"data": [
        {"code": "INVALID_DATA", "details": {"api_name": "Email"}, "message": "invalid data", "status": "error"}]})
    with tenant_scope(tenant):
        result = connector.push_contacts([ContactUpdate("4150868000000224006", {"email": "not-an-email"})])
    assert result.pushed == 0 and result.failed == [("4150868000000224006", "INVALID_DATA: invalid data")]


# --- sync -------------------------------------------------------------------------------------

def test_pull_creates_profiles_through_identity_resolution(api_client, user, hubspot, respx_mock,
                                                          django_capture_on_commit_callbacks):
    mock_hubspot(respx_mock, [
        hs_contact("101", "2026-03-02T10:00:00.000Z", {}, email="Ada@Example.com", firstname="Ada",
                   lastname="Lovelace", jobtitle="Engineer", lifecyclestage="customer"),
        hs_contact("102", "2026-03-03T10:00:00.000Z", {}, email="not-an-email", phone="+1 415-555-2671",
                   firstname="Bob")])
    with tenant_scope(user.tenant):
        existing = Profile.objects.create(tenant=user.tenant, email="ada@example.com", traits={"ltv_band": "high"})
        Identity.objects.create(tenant=user.tenant, profile=existing, type="email", value="ada@example.com")
    run = sync(api_client, direction="pull", capture=django_capture_on_commit_callbacks)
    assert run["status"] == "queued" and run["provider"] == "hubspot"
    with tenant_scope(user.tenant):
        run = CrmSyncRun.objects.get()
        ada = Profile.objects.get(pk=existing.pk)
        bob = Profile.objects.exclude(pk=existing.pk).get()
        links = {link.external_id: link for link in CrmContactLink.objects.all()}
    assert (run.status, run.pulled, run.profiles_created, run.profiles_updated, run.failed) == ("succeeded", 2, 1, 1, 0)
    assert run.cursor == "2026-03-03T10:00:00+00:00"
    assert ada.traits == {"ltv_band": "high", "first_name": "Ada", "last_name": "Lovelace", "job_title": "Engineer"}
    assert ada.lifecycle_stage == "customer"
    # The malformed e-mail is dropped; the phone and the CRM id still resolve the person.
    assert bob.phone == "+14155552671" and bob.traits["first_name"] == "Bob"
    assert links["101"].profile_id == ada.pk and links["102"].profile_id == bob.pk


def test_bidirectional_conflicts_resolve_per_field_by_last_modified(api_client, user, hubspot, respx_mock,
                                                                   time_machine, django_capture_on_commit_callbacks):
    time_machine.move_to(datetime(2026, 3, 2, 12, tzinfo=UTC))
    mock_hubspot(respx_mock, [hs_contact("101", "2026-03-02T10:00:00.000Z", {}, email="ada@example.com",
                                         firstname="Ada", jobtitle="Engineer", city="London")])
    respx_mock.post(f"{HS}/batch/update").respond(200, json={"status": "COMPLETE", "results": []})
    sync(api_client, direction="pull", capture=django_capture_on_commit_callbacks)
    with tenant_scope(user.tenant):
        profile = Profile.objects.get()
    # The CDP changes job_title and city on 5 March.
    time_machine.move_to(datetime(2026, 3, 5, 12, tzinfo=UTC))
    with tenant_scope(user.tenant):
        profile_update(tenant=user.tenant, profile=profile, traits={"job_title": "CTO", "city": "Paris"})
    # The CRM changed first name (4 March), job title (3 March, older than the CDP's change) and city
    # (6 March, newer than the CDP's change).
    time_machine.move_to(datetime(2026, 3, 7, 12, tzinfo=UTC))
    respx_mock.routes.clear()
    mock_hubspot(respx_mock, [hs_contact("101", "2026-03-06T08:00:00.000Z", {
        "firstname": [("Augusta", "2026-03-04T08:00:00.000Z"), ("Ada", "2026-03-01T00:00:00.000Z")],
        "jobtitle": [("Lead Engineer", "2026-03-03T08:00:00.000Z")],
        "city": [("Cambridge", "2026-03-06T08:00:00.000Z")]},
        email="ada@example.com", firstname="Augusta", jobtitle="Lead Engineer", city="Cambridge")])
    push = respx_mock.post(f"{HS}/batch/update").respond(200, json={"status": "COMPLETE", "results": []})
    sync(api_client, capture=django_capture_on_commit_callbacks)
    with tenant_scope(user.tenant):
        profile.refresh_from_db()
        run = CrmSyncRun.objects.order_by("-queued_at").first()
    assert profile.traits["first_name"] == "Augusta"  # changed only in the CRM
    assert profile.traits["job_title"] == "CTO"  # both changed, the CDP's change is newer
    assert profile.traits["city"] == "Cambridge"  # both changed, the CRM's change is newer
    assert (run.status, run.conflicts, run.pushed) == ("succeeded", 2, 1)
    # The CDP's newer job title goes back, and so does its lifecycle stage, which the CRM had left empty.
    assert json.loads(push.calls[0].request.content) == {"inputs": [
        {"id": "101", "properties": {"jobtitle": "CTO", "lifecyclestage": "lead"}}]}
    # Nothing changed since: the next push sends nothing.
    respx_mock.routes.clear()
    mock_hubspot(respx_mock, [])
    quiet = respx_mock.post(f"{HS}/batch/update").respond(200, json={"status": "COMPLETE", "results": []})
    time_machine.move_to(datetime(2026, 3, 8, 12, tzinfo=UTC))
    sync(api_client, capture=django_capture_on_commit_callbacks)
    assert not quiet.called


def test_push_sends_traits_and_segment_membership(api_client, user, hubspot, respx_mock,
                                                  django_capture_on_commit_callbacks):
    mock_hubspot(respx_mock, [hs_contact("101", "2026-03-02T10:00:00.000Z", {}, email="ada@example.com")])
    respx_mock.post(f"{HS}/batch/update").respond(200, json={"status": "COMPLETE", "results": []})
    sync(api_client, direction="pull", capture=django_capture_on_commit_callbacks)
    response = api_client.patch("/api/v1/integrations/crm/hubspot/settings", {
        "field_mapping": {"ltv_band": "stratum_ltv_band"}, "segments_field": "stratum_segments"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["field_mapping"]["ltv_band"] == "stratum_ltv_band"
    with tenant_scope(user.tenant):
        profile = Profile.objects.get()
        profile_update(tenant=user.tenant, profile=profile, traits={"ltv_band": "high"})
        SegmentMembershipFactory(tenant=user.tenant, profile=profile, segment=SegmentFactory(tenant=user.tenant,
                                                                                             name="VIP"))
        SegmentMembershipFactory(tenant=user.tenant, profile=profile, segment=SegmentFactory(tenant=user.tenant,
                                                                                             name="Churn risk"))
    respx_mock.routes.clear()
    push = respx_mock.post(f"{HS}/batch/update").respond(200, json={"status": "COMPLETE", "results": []})
    run = sync(api_client, direction="push", capture=django_capture_on_commit_callbacks)
    sent = json.loads(push.calls[0].request.content)["inputs"][0]
    assert sent["id"] == "101"
    assert sent["properties"] == {"stratum_ltv_band": "high", "stratum_segments": "Churn risk; VIP",
                                  "lifecyclestage": "lead"}
    with tenant_scope(user.tenant):
        assert CrmSyncRun.objects.get(pk=run["id"]).pushed == 1


def test_expired_crm_token_fails_the_run_without_retry_and_notifies(api_client, user, hubspot, respx_mock,
                                                                    django_capture_on_commit_callbacks):
    respx_mock.post(f"{HS}/search").respond(401, json={
        "status": "error", "message": "The OAuth token used to make this call expired 2 hour(s) ago.",
        "correlationId": "c1", "category": "EXPIRED_AUTHENTICATION"})
    respx_mock.post("https://api.hubapi.com/oauth/v1/token").respond(400, json={
        "status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token"})
    run = sync(api_client, direction="pull", capture=django_capture_on_commit_callbacks)
    with tenant_scope(user.tenant):
        run = CrmSyncRun.objects.get(pk=run["id"])
        hubspot.refresh_from_db()
        titles = list(Notification.objects.filter(user=user).values_list("title", flat=True))
    assert run.status == "failed" and run.attempts == 1 and "expired or was revoked" in run.error
    assert hubspot.status == "expired"
    assert "HubSpot sync failed" in titles
    assert_error(api_client.post("/api/v1/integrations/crm/sync", {"provider": "hubspot"}, format="json"),
                 409, "NOT_CONNECTED")


def test_rate_limited_crm_is_retried_then_recorded(api_client, user, hubspot, respx_mock, waits,
                                                   django_capture_on_commit_callbacks):
    route = respx_mock.post(f"{HS}/search").respond(429, json={
        "status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
        "correlationId": "c2", "category": "RATE_LIMITS"})
    run = sync(api_client, direction="pull", capture=django_capture_on_commit_callbacks)
    with tenant_scope(user.tenant):
        run = CrmSyncRun.objects.get(pk=run["id"])
    assert run.status == "failed" and run.attempts == 3 and "secondly limit" in run.error
    assert route.call_count == 12  # 3 runs x (1 call + 3 back-off retries)
    assert waits[:3] == [1.0, 2.0, 4.0]


def test_sync_request_validation_and_idempotence(api_client, user, hubspot):
    assert_error(api_client.post("/api/v1/integrations/crm/sync", {"provider": "myspace"}, format="json"), 422)
    assert_error(api_client.post("/api/v1/integrations/crm/sync", {"provider": "hubspot", "direction": "sideways"},
                                 format="json"), 422)
    assert_error(api_client.post("/api/v1/integrations/crm/sync", {"provider": "zoho"}, format="json"),
                 409, "NOT_CONNECTED")
    first = api_client.post("/api/v1/integrations/crm/sync", {"provider": "hubspot"}, format="json").json()
    second = api_client.post("/api/v1/integrations/crm/sync", {"provider": "hubspot"}, format="json").json()
    assert first["id"] == second["id"] and first["direction"] == "bidirectional"


def test_crm_status_per_provider(api_client, user, hubspot, django_assert_max_num_queries):
    CrmSyncRunFactory(tenant=user.tenant, connection=hubspot, status="failed", error="boom", pulled=3)
    latest = CrmSyncRunFactory(tenant=user.tenant, connection=hubspot, status="succeeded", pulled=10, pushed=2)
    with django_assert_max_num_queries(12):
        body = api_client.get("/api/v1/integrations/crm/status").json()
    by_provider = {p["provider"]: p for p in body["providers"]}
    assert list(by_provider) == ["hubspot", "pipedrive", "salesforce", "zoho"]
    assert by_provider["hubspot"]["connected"] and by_provider["hubspot"]["schedule"] == "daily"
    assert by_provider["hubspot"]["last_run"]["id"] == str(latest.pk)
    assert by_provider["hubspot"]["last_run"]["pulled"] == 10
    assert by_provider["zoho"] == {"provider": "zoho", "configured": True, "connected": False,
                                   "connection_status": None, "schedule": "off", "last_run": None,
                                   "last_success_at": None}
    runs = api_client.get("/api/v1/integrations/crm/runs?provider=hubspot").json()
    assert runs["total"] == 2
    assert_error(api_client.get("/api/v1/integrations/crm/runs?provider=nope"), 422)


def test_scheduled_syncs_queue_due_connections(user, hubspot, time_machine):
    from integrations.crm.services import crm_syncs_schedule

    time_machine.move_to(datetime(2026, 3, 1, tzinfo=UTC))
    hubspot.settings = {"schedule": "hourly", "direction": "pull"}
    hubspot.save()
    ConnectionFactory(tenant=user.tenant, provider="zoho", settings={"schedule": "off"})
    assert crm_syncs_schedule() == 1
    assert crm_syncs_schedule() == 0  # queued less than an hour ago
    with tenant_scope(user.tenant):
        run = CrmSyncRun.objects.get()
    assert (run.trigger, run.direction, run.provider) == ("schedule", "pull", "hubspot")


KILLED_AT = datetime(2026, 3, 5, 9, tzinfo=UTC)


def killed_run(connection, time_machine, **fields) -> CrmSyncRun:
    """A run whose worker was killed at KILLED_AT (now): still `running`, its last heartbeat then."""
    time_machine.move_to(KILLED_AT, tick=False)
    return CrmSyncRunFactory(tenant=connection.tenant, connection=connection, status="running", started_at=KILLED_AT,
                             heartbeat_at=KILLED_AT, **fields)


def past_the_lease(time_machine) -> datetime:
    from integrations.crm.services import RUN_LEASE

    now = KILLED_AT + RUN_LEASE + timedelta(seconds=1)
    time_machine.move_to(now, tick=False)
    return now


def test_a_run_whose_worker_died_is_taken_over_and_finished(user, hubspot, respx_mock, time_machine,
                                                            django_capture_on_commit_callbacks):
    from integrations.crm.services import crm_sync_run, crm_syncs_schedule

    search, _ = mock_hubspot(respx_mock, [hs_contact("101", "2026-03-02T10:00:00.000Z", {}, email="ada@example.com",
                                                     firstname="Ada")])
    run = killed_run(hubspot, time_machine, direction="pull", attempts=1)
    # The redelivered task cannot tell yet whether a worker still holds it: it leaves the run alone, and a
    # manual request answers that run instead of starting a second one.
    with tenant_scope(user.tenant):
        assert crm_sync_run(tenant=user.tenant, run_id=run.pk).status == "running"
    client = client_for(user)  # a token issued at the travelled time
    assert client.post("/api/v1/integrations/crm/sync", {"provider": "hubspot"}, format="json").json()["id"] \
        == str(run.pk)
    assert not search.called
    # No heartbeat for RUN_LEASE: the scheduler hands the run to a new task, which runs it to the end.
    now = past_the_lease(time_machine)
    with django_capture_on_commit_callbacks(execute=True):
        assert crm_syncs_schedule() == 0  # no second run: the daily schedule is not due
    with tenant_scope(user.tenant):
        run.refresh_from_db()
        profile = Profile.objects.get()
        assert CrmSyncRun.objects.count() == 1
    assert (run.status, run.attempts, run.pulled, run.profiles_created, run.error) == ("succeeded", 2, 1, 1, "")
    assert run.started_at == run.heartbeat_at == now
    assert profile.email == "ada@example.com" and profile.traits == {"first_name": "Ada"}


def test_a_run_killed_on_every_attempt_fails_as_interrupted(user, hubspot, time_machine,
                                                            django_capture_on_commit_callbacks):
    from integrations.crm.services import crm_syncs_schedule

    run = killed_run(hubspot, time_machine, attempts=3)
    now = past_the_lease(time_machine)
    with django_capture_on_commit_callbacks(execute=True):
        crm_syncs_schedule()
    with tenant_scope(user.tenant):
        run.refresh_from_db()
        titles = list(Notification.objects.filter(user=user).values_list("title", flat=True))
    assert (run.status, run.attempts, run.finished_at) == ("failed", 3, now)
    assert run.error == "INTERRUPTED: the sync stopped before it finished (its worker died; attempt 3 of 3)."
    assert titles == ["HubSpot sync failed"]


def test_a_sync_request_replaces_a_run_whose_worker_died(user, hubspot, time_machine):
    stuck = killed_run(hubspot, time_machine, attempts=1)
    now = past_the_lease(time_machine)
    response = client_for(user).post("/api/v1/integrations/crm/sync", {"provider": "hubspot"}, format="json")
    assert response.status_code == 202
    assert response.json()["id"] != str(stuck.pk) and response.json()["status"] == "queued"
    stuck.refresh_from_db()
    assert (stuck.status, stuck.finished_at) == ("failed", now)
    assert stuck.error.startswith("INTERRUPTED: the sync stopped before it finished")


def test_an_unexpected_provider_answer_fails_the_run_and_notifies(api_client, user, hubspot, respx_mock,
                                                                  django_capture_on_commit_callbacks):
    respx_mock.post(f"{HS}/search").respond(200, json=["not", "a", "search", "answer"])
    run = sync(api_client, direction="pull", capture=django_capture_on_commit_callbacks)
    with tenant_scope(user.tenant):
        run = CrmSyncRun.objects.get(pk=run["id"])
        titles = list(Notification.objects.filter(user=user).values_list("title", flat=True))
    assert (run.status, run.attempts) == ("failed", 1) and run.finished_at is not None
    assert run.error.startswith("Unexpected error (AttributeError)")
    assert titles == ["HubSpot sync failed"]
    status = api_client.get("/api/v1/integrations/crm/status").json()["providers"][0]
    assert status["last_run"]["status"] == "failed" and status["last_run"]["error"] == run.error
