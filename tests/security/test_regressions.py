"""One regression test per weakness the hostile-input suite found (each fixed in the commit that names it)."""
from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from stratum.api.permissions import SCOPES, required_scopes_for
from tests.helpers import client_for, key_client_for
from tests.security.test_credentials import bearer, claims, forge


@pytest.fixture
def owner(user, settings):
    settings.RATELIMIT_ENABLED = False
    return user


@pytest.mark.attack("scope")
def test_a_method_missing_from_required_scopes_is_closed_to_keys(hostile, owner):
    """Was: `required_scopes = {"GET": [...]}` let any key — even one without scopes — PATCH the tenant."""

    class View:
        required_scopes = {"GET": ["read:users"]}

    assert required_scopes_for(View(), "PATCH") is None
    assert required_scopes_for(View(), "HEAD") == ["read:users"]
    for scopes in ([], list(SCOPES)):
        response = key_client_for(owner, scopes=scopes).patch("/api/v1/tenants/current", {"name": "Renamed"},
                                                              format="json")
        hostile.expect("scope", f"PATCH /tenants/current with {len(scopes)} scopes", response.status_code == 403,
                       response.status_code)
    owner.tenant.refresh_from_db()
    assert owner.tenant.name != "Renamed"
    assert client_for(owner).patch("/api/v1/tenants/current", {"name": "Renamed"}, format="json").status_code == 200


@pytest.mark.attack("scope")
def test_logout_is_closed_to_api_keys(hostile, owner):
    """Was: LogoutView replaced the default permissions and dropped the API-key scope check."""
    response = key_client_for(owner).post("/api/v1/auth/logout", {}, format="json")
    hostile.expect("scope", "POST /auth/logout with an API key", response.status_code == 403, response.status_code)


@pytest.mark.attack("jwt")
def test_a_token_whose_user_id_is_not_a_uuid_is_401(hostile, owner):
    """Was: 422 VALIDATION_ERROR (the UUID lookup's error) instead of an authentication failure."""
    token = client_for(owner)._credentials["HTTP_AUTHORIZATION"].split()[1]
    forged = forge({"alg": "HS256", "typ": "JWT"}, {**claims(token), "user_id": "1 OR 1=1"},
                   settings.SIMPLE_JWT["SIGNING_KEY"])
    response = bearer(forged).get("/api/v1/users/me")
    hostile.expect("jwt", "user_id claim not a uuid",
                   response.status_code == 401 and response.json()["code"] == "UNAUTHORIZED", response.status_code)
    assert APIClient().get("/api/v1/users/me").status_code == 401


@pytest.mark.attack("ssrf")
def test_legacy_and_embedded_ipv4_forms_are_literals(hostile):
    """Was: `127.1`, `0177.0.0.1`, `0x7f.0.0.1`, `10.1` passed as host names; `::127.0.0.1`, `2002:7f00:1::`
    (6to4), `64:ff9b::a9fe:a9fe` (NAT64) and 192.0.0.8 counted as global."""
    from stratum.api.net import UnsafeTarget, address_is_public, validate_public_url

    for host in ("127.1", "0177.0.0.1", "0x7f.0.0.1", "10.1", "0251.0376.0251.0376", "[::127.0.0.1]",
                 "[2002:7f00:1::]", "[64:ff9b::a9fe:a9fe]", "192.0.0.8", "%31%32%37.0.0.1"):
        try:
            validate_public_url(f"https://{host}/hook")
            refused = False
        except UnsafeTarget:
            refused = True
        hostile.expect("ssrf", f"https://{host}/hook", refused)
    assert address_is_public("93.184.216.34") and address_is_public("2606:2800:220:1::1")
    assert address_is_public("192.0.0.9") and not address_is_public("::ffff:10.0.0.1")
    assert validate_public_url("https://cafe.be/x") == "https://cafe.be/x"  # a name made of hex letters is a name


@pytest.mark.attack("csv_injection")
def test_csv_cells_are_all_quoted(hostile):
    """Was: `Acme;=1+1` left unquoted, a formula cell in spreadsheets that split on semicolons."""
    import io

    from stratum.api.csvsafe import csv_safe, csv_writer

    buffer = io.StringIO()
    csv_writer(buffer).writerow([csv_safe(v) for v in ("Acme;=1+1", 12, "=1+1", "-3")])
    hostile.expect("csv_injection", "every cell quoted", buffer.getvalue() == '"Acme;=1+1","12","\'=1+1","\'-3"\r\n',
                   buffer.getvalue())


@pytest.mark.attack("segment_bounds")
def test_segment_compiler_stops_at_the_first_size_bound(hostile, tenant):
    """Was: 20,000 rules answered 20,000 errors (1.2 MB); 200,000 list values compiled and ran for 12 s."""
    from cdp.segmentation.compiler import MAX_NODES, MAX_VALUES, conditions_validate
    from stratum.api.exceptions import ValidationFailed

    rule = {"field": "email", "operator": "exists"}
    values = {"field": "traits.n", "operator": "in", "value": list(range(1000))}
    for conditions, bound in (({"rules": [rule] * 20_000}, "At most 50 rules"),
                              ({"rules": [{"not": {"not": {"not": rule}}}] * 50}, f"At most {MAX_NODES}"),
                              ({"rules": [values] * 6}, f"At most {MAX_VALUES}")):
        with pytest.raises(ValidationFailed) as caught:
            conditions_validate(tenant=tenant, conditions=conditions)
        errors = caught.value.errors
        hostile.expect("segment_bounds", bound, len(errors) == 1 and bound in str(errors), errors)


@pytest.mark.attack("injection")
def test_nul_characters_and_infinite_numbers_never_reach_the_database(hostile, owner):
    """Was: 500 on PostgreSQL (text and jsonb cannot hold U+0000 or Infinity)."""
    client = client_for(owner)
    for body, status in (('{"name": "a\\u0000"}', 422), ('{"name": "a", "x": 1e309}', 400)):
        response = client.post("/api/v1/clients", body, content_type="application/json")
        hostile.expect("injection", body, response.status_code == status, response.status_code)
    response = client.get("/api/v1/campaigns?search=%00")
    hostile.expect("injection", "search=%00", response.status_code == 422, response.status_code)
