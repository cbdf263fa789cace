"""Sources and their write keys: created (key shown once, hashed at rest), listed, read, rotated, deleted; who may;
the tenant rule; and the write key authenticating /v1/* ingestion and nothing else."""
from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
from rest_framework.test import APIClient

from cdp.models import Source
from tests.accounts.factories import TenantFactory, UserFactory
from tests.helpers import assert_error, client_for, key_client_for

SOURCES = "/api/v1/cdp/sources"


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def create(client, **body):
    payload = {"name": "Web shop", "kind": "browser", "allowed_origins": ["https://Shop.Example.com/"], **body}
    return client.post(SOURCES, payload, format="json")


@pytest.mark.django_db
class TestSourcesApi:
    def test_create_shows_the_key_once_and_keeps_only_its_hash(self, api_client, tenant, user):
        response = create(api_client)
        assert response.status_code == 201, response.content
        body = response.json()
        key = body.pop("write_key")
        assert key.startswith("wk_") and len(key) > 40
        assert body == {"id": body["id"], "name": "Web shop", "kind": "browser",
                        "allowed_origins": ["https://shop.example.com"], "key_prefix": key[:10],
                        "created_at": body["created_at"], "key_rotated_at": None, "last_used_at": None}
        row = Source.objects.unscoped().get(pk=body["id"])
        assert row.tenant_id == tenant.pk and row.created_by_id == user.pk
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in str(vars(row))
        listed = api_client.get(SOURCES).json()
        assert listed == {"items": [body], "total": 1, "page": 1, "pages": 1, "limit": 20}
        assert api_client.get(f"{SOURCES}/{body['id']}").json() == body

    def test_bad_input_is_422_naming_the_field(self, api_client):
        assert_error(create(api_client, kind="desktop"), 422, "VALIDATION_ERROR")
        body = assert_error(create(api_client, allowed_origins=["shop.example.com"]), 422, "VALIDATION_ERROR")
        assert "allowed_origins[0]" in body["errors"]
        body = assert_error(create(api_client, allowed_origins=["https://a.example/path"]), 422)
        assert "allowed_origins[0]" in body["errors"]
        body = assert_error(create(api_client, kind="server"), 422, "VALIDATION_ERROR")
        assert body["errors"] == {"allowed_origins": ["Only browser sources have allowed origins."]}
        assert_error(create(api_client, name=7), 422, "VALIDATION_ERROR")
        assert_error(api_client.post(SOURCES, {"kind": "server"}, format="json"), 422, "VALIDATION_ERROR")
        assert Source.objects.unscoped().count() == 0

    def test_rotate_gives_a_new_key_and_the_old_one_stops(self, api_client, client):
        created = create(api_client, kind="server", allowed_origins=[]).json()
        old = created["write_key"]
        assert client.post("/v1/track", {"userId": "u1", "event": "Signed Up"}, content_type="application/json",
                           HTTP_AUTHORIZATION=basic(old)).status_code == 200
        rotated = api_client.post(f"{SOURCES}/{created['id']}/rotate-key")
        assert rotated.status_code == 200, rotated.content
        new = rotated.json()["write_key"]
        assert new != old and rotated.json()["key_prefix"] == new[:10] and rotated.json()["key_rotated_at"]
        refused = client.post("/v1/track", {"userId": "u1", "event": "Signed Up"}, content_type="application/json",
                              HTTP_AUTHORIZATION=basic(old))
        assert refused.status_code == 401 and refused.json()["success"] is False
        assert client.post("/v1/track", {"userId": "u1", "event": "Signed Up"}, content_type="application/json",
                           HTTP_AUTHORIZATION=basic(new)).status_code == 200
        assert "write_key" not in api_client.get(f"{SOURCES}/{created['id']}").json()

    def test_delete_revokes_the_key_and_hides_the_source(self, api_client, client):
        created = create(api_client, kind="mobile", allowed_origins=[]).json()
        assert api_client.delete(f"{SOURCES}/{created['id']}").status_code == 204
        assert_error(api_client.get(f"{SOURCES}/{created['id']}"), 404, "NOT_FOUND")
        assert_error(api_client.delete(f"{SOURCES}/{created['id']}"), 404, "NOT_FOUND")
        assert_error(api_client.post(f"{SOURCES}/{created['id']}/rotate-key"), 404, "NOT_FOUND")
        assert api_client.get(SOURCES).json()["total"] == 0
        assert Source.objects.unscoped().get(pk=created["id"]).revoked_at is not None
        response = client.post("/v1/identify", {"userId": "u1"}, content_type="application/json",
                               HTTP_AUTHORIZATION=basic(created["write_key"]))
        assert response.status_code == 401

    def test_members_read_but_only_owners_and_admins_change(self, tenant, api_client):
        source_id = create(api_client).json()["id"]
        for role in ("manager", "analyst", "viewer"):
            member = client_for(UserFactory(tenant=tenant, role=role))
            assert member.get(SOURCES).json()["total"] == 1
            assert_error(create(member), 403, "FORBIDDEN")
            assert_error(member.post(f"{SOURCES}/{source_id}/rotate-key"), 403, "FORBIDDEN")
            assert_error(member.delete(f"{SOURCES}/{source_id}"), 403, "FORBIDDEN")
        admin = client_for(UserFactory(tenant=tenant, role="admin"))
        assert create(admin).status_code == 201

    def test_api_keys_need_the_cdp_scopes(self, user):
        reader = key_client_for(user, scopes=["read:cdp"])
        assert reader.get(SOURCES).status_code == 200
        assert_error(create(reader), 403, "FORBIDDEN")
        writer = key_client_for(user, scopes=["write:cdp"])
        assert create(writer).status_code == 201
        assert_error(key_client_for(user, scopes=["read:campaigns"]).get(SOURCES), 403, "FORBIDDEN")

    def test_other_tenants_sources_are_404(self, api_client):
        other = TenantFactory(plan="enterprise")
        theirs = create(client_for(UserFactory(tenant=other, role="owner"))).json()["id"]
        mine = create(api_client).json()["id"]
        assert [s["id"] for s in api_client.get(SOURCES).json()["items"]] == [mine]
        assert_error(api_client.get(f"{SOURCES}/{theirs}"), 404, "NOT_FOUND")
        assert_error(api_client.post(f"{SOURCES}/{theirs}/rotate-key"), 404, "NOT_FOUND")
        assert_error(api_client.delete(f"{SOURCES}/{theirs}"), 404, "NOT_FOUND")
        assert_error(api_client.get(f"{SOURCES}/{uuid.uuid4()}"), 404, "NOT_FOUND")
        assert Source.objects.unscoped().filter(revoked_at__isnull=True).count() == 2

    def test_unauthenticated_is_401(self, anon_client):
        assert_error(anon_client.get(SOURCES), 401, "UNAUTHORIZED")


@pytest.mark.django_db
class TestWriteKeyDoesNothingButIngest:
    @pytest.fixture
    def write_key(self, api_client):
        return create(api_client, kind="server", allowed_origins=[]).json()["write_key"]

    @pytest.mark.parametrize("path", ["/api/v1/cdp/profiles", "/api/v1/cdp/events", SOURCES, "/api/v1/users/me",
                                      "/api/v1/campaigns"])
    def test_the_key_opens_no_api_endpoint(self, write_key, path):
        client = APIClient()
        for header in (basic(write_key), f"Bearer {write_key}", f"Basic {write_key}"):
            assert_error(client.get(path, HTTP_AUTHORIZATION=header), 401, "UNAUTHORIZED")
        assert_error(client.get(path, HTTP_X_API_KEY=write_key), 401, "UNAUTHORIZED")
        assert_error(client.post("/api/v1/cdp/events/track", {"identifiers": {"external_id": "u"},
                                                             "event_type": "x"},
                                 format="json", HTTP_AUTHORIZATION=basic(write_key)), 401, "UNAUTHORIZED")

    def test_nothing_but_a_write_key_opens_v1(self, user, client):
        jwt = client_for(user)._credentials["HTTP_AUTHORIZATION"]
        api_key = key_client_for(user)._credentials["HTTP_AUTHORIZATION"]
        for header in (jwt, api_key, basic(api_key.split()[1]), "Basic !!!", ""):
            response = client.post("/v1/track", {"userId": "u1", "event": "x"}, content_type="application/json",
                                   HTTP_AUTHORIZATION=header)
            assert response.status_code == 401, header
            assert response.json()["success"] is False and response.json()["code"] == "UNAUTHORIZED"
        client.force_login(user)  # a staff-console session is no credential here either
        assert client.post("/v1/track", {"userId": "u1", "event": "x"},
                           content_type="application/json").status_code == 401
        from cdp.models import Event

        assert Event.objects.unscoped().count() == 0

    def test_a_suspended_tenants_key_is_refused(self, write_key, tenant, client):
        tenant.status = "suspended"
        tenant.save()
        response = client.post("/v1/track", {"userId": "u1", "event": "x"}, content_type="application/json",
                               HTTP_AUTHORIZATION=basic(write_key))
        assert response.status_code == 403 and response.json()["success"] is False

    def test_a_plan_without_the_cdp_feature_ingests_nothing(self, write_key, tenant, client):
        tenant.feature_flags = {"cdp": False}
        tenant.save()
        response = client.post("/v1/track", {"userId": "u1", "event": "x"}, content_type="application/json",
                               HTTP_AUTHORIZATION=basic(write_key))
        assert response.status_code == 403 and response.json()["code"] == "FEATURE_NOT_AVAILABLE"
