"""Clients and client roles: who sees which client, with which role, and who may change it."""
import pytest

from tests.accounts.factories import UserFactory
from tests.campaigns.factories import AdAccountFactory
from tests.helpers import assert_error, client_for
from tests.workflow.conftest import data
from tests.workflow.factories import ClientFactory
from workflow.alert_catalog import DEFAULT_ALERT_TYPES
from workflow.models import Alert, ClientMembership
from workflow.selectors import clients_visible_to

pytestmark = pytest.mark.django_db


def test_list_shows_only_visible_clients_with_the_role(team, tenant):
    ClientFactory(tenant=tenant, name="Beta Brand")
    body = data(team.api("member").get("/api/v1/clients"))
    assert [c["name"] for c in body["clients"]] == ["Acme Corp"]
    assert body["clients"][0]["role"] == "member"
    assert set(body["clients"][0]) >= {"id", "name", "logo", "is_active", "role", "created_at"}
    assert (body["total_pages"], body["current_page"], body["total_items"]) == (1, 1, 1)

    owner = data(team.api("owner").get("/api/v1/clients?limit=1&page=2"))
    assert owner["total_items"] == 2 and owner["total_pages"] == 2 and owner["current_page"] == 2
    assert [c["name"] for c in owner["clients"]] == ["Beta Brand"] and owner["clients"][0]["role"] == "admin"

    assert data(team.api("outsider").get("/api/v1/clients"))["clients"] == []


def test_selector_annotates_role(team, tenant, scoped):
    assert [(c.name, c.role) for c in clients_visible_to(tenant=tenant, user=team.viewer)] == [("Acme Corp", "viewer")]
    assert list(clients_visible_to(tenant=tenant, user=team.outsider)) == []


def test_role_endpoint(team):
    for who in ("admin", "member", "viewer"):
        assert data(team.api(who).get(f"/api/v1/clients/{team.brand.pk}/role")) == {"role": who}
    assert data(team.api("owner").get(f"/api/v1/clients/{team.brand.pk}/role")) == {"role": "admin"}
    assert_error(team.api("outsider").get(f"/api/v1/clients/{team.brand.pk}/role"), 404, "NOT_FOUND")


def test_create_client_makes_manager_admin_and_default_alerts(team, tenant):
    response = team.api("outsider").post("/api/v1/clients", {"name": "New Client", "logo": "https://example.com/l.png"})
    assert response.status_code == 201
    created = data(response)
    assert created["name"] == "New Client" and created["role"] == "admin" and created["is_active"] is True
    assert ClientMembership.objects.for_tenant(tenant).get(client_id=created["id"]).user == team.outsider
    defaults = Alert.objects.for_tenant(tenant).filter(client_id=created["id"], is_default=True)
    assert sorted(defaults.values_list("alert_type", flat=True)) == sorted(DEFAULT_ALERT_TYPES)
    assert all(a.periodic_task is not None and a.periodic_task.enabled for a in defaults)


def test_create_client_bad_input(team):
    owner = team.api("owner")
    assert_error(owner.post("/api/v1/clients", {"name": "Acme Corp"}), 422, "VALIDATION_ERROR")
    assert_error(owner.post("/api/v1/clients", {"name": ""}), 422, "VALIDATION_ERROR")
    body = assert_error(owner.post("/api/v1/clients", {"name": "X", "tenant": "other"}), 422, "VALIDATION_ERROR")
    assert "tenant" in body["errors"]
    assert_error(owner.post("/api/v1/clients", {"name": "Y", "logo": "not a url"}), 422, "VALIDATION_ERROR")
    # analysts (tenant role) may not create clients
    assert_error(team.api("member").post("/api/v1/clients", {"name": "Z"}), 403, "FORBIDDEN")


def test_update_and_delete_need_the_right_role(team, tenant):
    url = f"/api/v1/clients/{team.brand.pk}"
    assert_error(team.api("member").patch(url, {"name": "Renamed"}), 403, "FORBIDDEN")
    assert_error(team.api("outsider").patch(url, {"name": "Renamed"}), 404, "NOT_FOUND")
    updated = data(team.api("admin").patch(url, {"name": "Acme Inc", "is_active": False}))
    assert updated["name"] == "Acme Inc" and updated["is_active"] is False
    # a deactivated client's alerts stop being scheduled
    assert_error(team.api("admin").delete(url), 403, "FORBIDDEN")  # client admins do not delete clients
    assert data(team.api("owner").delete(url)) == {"id": str(team.brand.pk)}
    assert_error(team.api("owner").get(url), 404, "NOT_FOUND")


def test_members_management(team, tenant):
    url = f"/api/v1/clients/{team.brand.pk}/members"
    listed = data(team.api("viewer").get(url))
    assert {m["role"] for m in listed["members"]} == {"admin", "member", "viewer"}
    assert set(listed["members"][0]) == {"user_id", "email", "name", "role", "created_at"}
    newcomer = UserFactory(tenant=tenant, role="viewer")
    assert_error(team.api("member").post(url, {"user_id": str(newcomer.pk), "role": "viewer"}), 403, "FORBIDDEN")
    response = team.api("admin").post(url, {"user_id": str(newcomer.pk), "role": "viewer"})
    assert response.status_code == 201 and data(response)["role"] == "viewer"
    assert_error(team.api("admin").post(url, {"user_id": str(newcomer.pk), "role": "viewer"}), 409, "ALREADY_MEMBER")
    stranger = UserFactory()  # another tenant's user
    assert_error(team.api("admin").post(url, {"user_id": str(stranger.pk)}), 422, "VALIDATION_ERROR")
    assert_error(team.api("admin").post(url, {"user_id": str(newcomer.pk), "role": "owner"}), 422)
    assert data(team.api("admin").patch(f"{url}/{newcomer.pk}", {"role": "member"}))["role"] == "member"
    assert data(team.api("admin").delete(f"{url}/{newcomer.pk}")) == {"id": str(newcomer.pk)}
    assert_error(team.api("admin").delete(f"{url}/{newcomer.pk}"), 404, "NOT_FOUND")
    assert data(client_for(newcomer).get("/api/v1/clients"))["clients"] == []


def test_ad_accounts_link_and_unlink(team, tenant):
    account = AdAccountFactory(tenant=tenant)
    other_tenant_account = AdAccountFactory()
    url = f"/api/v1/clients/{team.brand.pk}/ad-accounts"
    assert_error(team.api("member").post(url, {"ad_account_id": str(account.pk)}), 403)
    assert_error(team.api("admin").post(url, {"ad_account_id": str(other_tenant_account.pk)}), 422)
    response = team.api("admin").post(url, {"ad_account_id": str(account.pk)})
    assert response.status_code == 201 and data(response)["id"] == str(account.pk)
    assert [a["id"] for a in data(team.api("viewer").get(url))] == [str(account.pk)]
    other = ClientFactory(tenant=tenant)
    assert_error(team.api("owner").post(f"/api/v1/clients/{other.pk}/ad-accounts", {"ad_account_id": str(account.pk)}),
                 409, "AD_ACCOUNT_LINKED")
    assert team.api("admin").delete(f"{url}/{account.pk}").status_code == 200
    assert data(team.api("viewer").get(url)) == []


def test_api_key_scopes(team, make_key_client):
    reader = make_key_client(team.owner, scopes=["read:workflow"])
    assert reader.get("/api/v1/clients").status_code == 200
    assert_error(reader.post("/api/v1/clients", {"name": "Via key"}), 403, "FORBIDDEN")
    writer = make_key_client(team.owner, scopes=["read:workflow", "write:workflow"])
    assert writer.post("/api/v1/clients", {"name": "Via key"}).status_code == 201
    assert_error(make_key_client(team.owner, scopes=["read:campaigns"]).get("/api/v1/clients"), 403)


def test_list_query_count_is_constant(team, tenant, django_assert_max_num_queries):
    for _n in range(15):
        ClientFactory(tenant=tenant)
    api = team.api("owner")
    with django_assert_max_num_queries(8):
        assert len(data(api.get("/api/v1/clients?limit=100"))["clients"]) == 16


def test_list_created_range(team, tenant, time_machine):
    import datetime

    time_machine.move_to(datetime.datetime(2030, 1, 5, 12, 0, tzinfo=datetime.UTC), tick=False)
    ClientFactory(tenant=tenant, name="Newcomer")
    api = team.api("owner")
    assert [c["name"] for c in data(api.get("/api/v1/clients?created_from=2030-01-05"))["clients"]] == ["Newcomer"]
    assert [c["name"] for c in data(api.get("/api/v1/clients?created_to=2030-01-04"))["clients"]] == ["Acme Corp"]
    assert_error(api.get("/api/v1/clients?created_to=2030-1-4"), 422, "VALIDATION_ERROR")
