"""Profiles: upsert by identifiers, identity resolution and merges, unmerge, traits, search, statistics."""
import pytest

from cdp.models import Event, Identity, IdentityLink, Profile, ProfileMerge
from cdp.selectors import profile_find_by_email, profile_ids_by_email, purchase_counts_by_email
from cdp.services import event_track, profile_upsert
from tests.cdp.factories import ProfileFactory
from tests.helpers import assert_error

URL = "/api/v1/cdp/profiles"
SPEC_KEYS = {"id", "external_id", "email", "phone", "lifecycle_stage", "rfm", "traits", "identities", "created_at",
             "updated_at"} | {"predictions"}  # + the analytics app's churn prediction (null without one)


def upsert(client, identifiers, **extra):
    return client.post(URL, {"identifiers": identifiers, **extra}, format="json")


class TestUpsert:
    def test_creates_a_profile_with_normalized_identities_in_the_spec_shape(self, api_client):
        response = upsert(api_client, {"email": "  John@Example.COM ", "phone": "+1 (415) 555-0123",
                                       "external_id": "cust_123"}, traits={"first_name": "John"})
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) == SPEC_KEYS
        assert body["email"] == "john@example.com"
        assert body["phone"] == "+14155550123"
        assert body["external_id"] == "cust_123"
        assert body["lifecycle_stage"] == "lead"
        assert body["rfm"] == {"recency_score": None, "frequency_score": None, "monetary_score": None, "segment": None}
        assert body["traits"] == {"first_name": "John", "total_orders": 0, "ltv": 0.0}
        assert sorted(body["identities"], key=lambda i: i["type"]) == [
            {"type": "email", "value": "john@example.com"}, {"type": "external_id", "value": "cust_123"},
            {"type": "phone", "value": "+14155550123"}]
        assert body["created_at"].endswith("Z")

    def test_same_identifier_finds_the_same_profile_and_merges_traits(self, api_client):
        first = upsert(api_client, {"email": "a@shop.example"}, traits={"first_name": "Ann", "plan": "gold"}).json()
        second = upsert(api_client, {"email": "A@SHOP.example"}, traits={"plan": None, "city": "Oslo"})
        assert second.status_code == 200
        assert second.json()["id"] == first["id"]
        assert second.json()["traits"] == {"first_name": "Ann", "city": "Oslo", "total_orders": 0, "ltv": 0.0}

    def test_anonymous_only_profile_is_anonymous(self, api_client):
        body = upsert(api_client, {"anonymous_id": "anon-1"}).json()
        assert body["lifecycle_stage"] == "anonymous" and body["email"] is None

    @pytest.mark.parametrize("identifiers,field", [
        ({"email": "not-an-email"}, "identifiers.email"),
        ({"phone": "12"}, "identifiers.phone"),
        ({"phone": "+1 000 000"}, "identifiers.phone"),
        ({"Bad Type": "x"}, "identifiers.Bad Type"),
        ({"external_id": ""}, "identifiers.external_id"),
        ({"external_id": "x" * 300}, "identifiers.external_id"),
        ({"profile_id": "cust_1"}, "identifiers.profile_id"),  # our own id, not an identifier type
    ])
    def test_bad_identifiers_are_422_naming_the_identifier(self, api_client, identifiers, field):
        body = assert_error(upsert(api_client, identifiers), 422, "VALIDATION_ERROR")
        assert field in body["errors"]
        assert not Profile.objects.unscoped().exists()

    def test_bad_bodies(self, api_client):
        assert "identifiers" in assert_error(api_client.post(URL, {}, format="json"), 422)["errors"]
        assert "role" in assert_error(upsert(api_client, {"email": "a@b.example"}, role="admin"), 422)["errors"]
        assert "traits.ltv" in assert_error(upsert(api_client, {"email": "a@b.example"}, traits={"ltv": 5}),
                                            422)["errors"]
        assert "traits.bad key" in assert_error(upsert(api_client, {"email": "a@b.example"},
                                                       traits={"bad key": 1}), 422)["errors"]
        big = {"blob": "x" * 33_000}
        assert "traits" in assert_error(upsert(api_client, {"email": "a@b.example"}, traits=big), 422)["errors"]
        assert_error(upsert(api_client, {"email": "a@b.example"}, lifecycle_stage="vip"), 422)

    def test_blocklisted_only_identifier_is_refused(self, api_client):
        body = assert_error(upsert(api_client, {"email": "test@example.com"}), 422, "NO_USABLE_IDENTIFIER")
        assert "identifiers" in body["errors"]


class TestIdentityResolution:
    def test_identifiers_pointing_at_two_profiles_merge_them_with_their_events(self, scoped):
        tenant = scoped
        by_email, _ = profile_upsert(tenant=tenant, identifiers={"email": "eve@shop.example"}, traits={"a": 1})
        by_phone, _ = profile_upsert(tenant=tenant, identifiers={"phone": "+447911123456"}, traits={"a": 2, "b": 3})
        event_track(tenant=tenant, profile_id=by_phone.pk, event_type="purchase", properties={"amount": 40})
        event_track(tenant=tenant, profile_id=by_email.pk, event_type="purchase", properties={"amount": 60.5})

        merged, created = profile_upsert(tenant=tenant, identifiers={"email": "eve@shop.example",
                                                                     "phone": "+44 7911 123456"})
        assert not created and merged.pk == by_email.pk  # the older profile wins
        merged.refresh_from_db()
        assert merged.traits == {"a": 1, "b": 3}  # the winner's traits win, the loser's fill gaps
        assert (merged.total_orders, float(merged.ltv)) == (2, 100.5)
        assert set(Identity.objects.filter(profile=merged).values_list("type", flat=True)) == {"email", "phone"}
        assert Event.objects.filter(profile=merged).count() == 2
        loser = Profile.objects.get(pk=by_phone.pk)
        assert loser.merged_into_id == merged.pk
        merge = ProfileMerge.objects.get()
        assert merge.reason == "email eve@shop.example and phone +447911123456 were named together"
        assert IdentityLink.objects.filter(action="merged").count() == 2

    def test_losing_id_still_resolves_to_the_winner(self, api_client, scoped):
        winner, _ = profile_upsert(tenant=scoped, identifiers={"email": "w@shop.example"})
        loser, _ = profile_upsert(tenant=scoped, identifiers={"external_id": "crm-9"})
        profile_upsert(tenant=scoped, identifiers={"email": "w@shop.example", "external_id": "crm-9"})
        response = api_client.get(f"{URL}/{loser.pk}")
        assert response.status_code == 200 and response.json()["id"] == str(winner.pk)
        tracked = api_client.post("/api/v1/cdp/events/track", {"profile_id": str(loser.pk), "event_type": "login"},
                                  format="json")
        assert tracked.status_code == 201 and tracked.json()["profile_id"] == str(winner.pk)
        listing = api_client.get(URL).json()
        assert [p["id"] for p in listing["items"]] == [str(winner.pk)]

    def test_cap_prevents_merging_two_external_ids(self, scoped):
        a, _ = profile_upsert(tenant=scoped, identifiers={"external_id": "crm-1", "email": "a@shop.example"})
        b, _ = profile_upsert(tenant=scoped, identifiers={"external_id": "crm-2"})
        resolved, _ = profile_upsert(tenant=scoped, identifiers={"external_id": "crm-2", "email": "a@shop.example"})
        assert resolved.pk == b.pk  # external_id outranks e-mail; nothing merged
        assert not ProfileMerge.objects.exists()
        assert Profile.objects.filter(merged_into__isnull=True).count() == 2
        link = IdentityLink.objects.get(action="capped")
        assert link.profile_id == b.pk and link.identifier_type == "email" and "cap" in link.reason

    def test_per_type_cap_stops_attaching_more_identities(self, scoped):
        from cdp.services import identity_rules_update

        identity_rules_update(tenant=scoped, caps={"email": 2})
        profile, _ = profile_upsert(tenant=scoped, identifiers={"external_id": "c1", "email": "one@shop.example"})
        profile_upsert(tenant=scoped, identifiers={"external_id": "c1", "email": "two@shop.example"})
        profile_upsert(tenant=scoped, identifiers={"external_id": "c1", "email": "three@shop.example"})
        assert Identity.objects.filter(profile=profile, type="email").count() == 2
        assert IdentityLink.objects.filter(action="capped", identifier_value="three@shop.example").exists()

    def test_blocklisted_values_never_merge(self, scoped):
        from cdp.services import identity_rules_update

        identity_rules_update(tenant=scoped, blocklist=[{"type": "email", "value": "Front.Desk@Hotel.example"}])
        a, _ = profile_upsert(tenant=scoped, identifiers={"external_id": "g1", "email": "front.desk@hotel.example"})
        b, _ = profile_upsert(tenant=scoped, identifiers={"external_id": "g2", "email": "front.desk@hotel.example"})
        c, _ = profile_upsert(tenant=scoped, identifiers={"anonymous_id": "undefined", "external_id": "g3"})
        assert len({a.pk, b.pk, c.pk}) == 3
        assert not ProfileMerge.objects.exists()
        assert not Identity.objects.filter(type="email").exists()
        assert IdentityLink.objects.filter(action="blocked").count() == 3


class TestUnmerge:
    def _merged(self, tenant):
        winner, _ = profile_upsert(tenant=tenant, identifiers={"email": "shared@family.example"},
                                   traits={"first_name": "Ann"})
        loser, _ = profile_upsert(tenant=tenant, identifiers={"external_id": "crm-7", "phone": "+14155550100"},
                                  traits={"first_name": "Bob", "city": "Rome"})
        event_track(tenant=tenant, profile_id=loser.pk, event_type="purchase", properties={"amount": 30})
        event_track(tenant=tenant, profile_id=winner.pk, event_type="purchase", properties={"amount": 10})
        profile_upsert(tenant=tenant, identifiers={"email": "shared@family.example", "external_id": "crm-7"})
        return winner, loser

    def test_unmerge_splits_identities_events_and_traits_back(self, api_client, scoped):
        winner, loser = self._merged(scoped)
        response = api_client.post(f"{URL}/{winner.pk}/unmerge", {}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["merge"]["undone_at"] is not None
        assert body["profile"]["traits"] == {"first_name": "Ann", "total_orders": 1, "ltv": 10.0}
        restored = body["restored_profile"]
        assert restored["id"] == str(loser.pk)
        assert restored["traits"] == {"first_name": "Bob", "city": "Rome", "total_orders": 1, "ltv": 30.0}
        assert {i["type"] for i in restored["identities"]} == {"external_id", "phone"}
        assert Event.objects.filter(profile_id=loser.pk).count() == 1
        assert api_client.get(f"{URL}/{loser.pk}").json()["id"] == str(loser.pk)
        log = api_client.get(f"{URL}/{loser.pk}/identity-links").json()
        actions = [entry["action"] for entry in log["items"]]
        assert actions[:2] == ["unmerged", "unmerged"] and "merged" in actions and actions[-1] == "attached"

    def test_unmerge_keeps_traits_the_winner_got_after_the_merge(self, api_client, scoped):
        winner, loser = self._merged(scoped)
        patched = api_client.patch(f"{URL}/{winner.pk}", {"traits": {"vip": True, "city": "Milan"}}, format="json")
        assert patched.json()["traits"] == {"first_name": "Ann", "city": "Milan", "vip": True, "total_orders": 2,
                                            "ltv": 40.0}
        body = api_client.post(f"{URL}/{winner.pk}/unmerge", {}, format="json").json()
        # "city" came from the loser but was set again since: newer data, kept; "vip" is the winner's own
        assert body["profile"]["traits"] == {"first_name": "Ann", "city": "Milan", "vip": True, "total_orders": 1,
                                             "ltv": 10.0}
        assert body["restored_profile"]["traits"] == {"first_name": "Bob", "city": "Rome", "total_orders": 1,
                                                      "ltv": 30.0}

    def test_unmerge_gives_back_the_lifecycle_stage_the_winner_took(self, api_client, scoped):
        lead, _ = profile_upsert(tenant=scoped, identifiers={"email": "lead@family.example"})
        buyer, _ = profile_upsert(tenant=scoped, identifiers={"external_id": "crm-8"})
        event_track(tenant=scoped, profile_id=buyer.pk, event_type="purchase", properties={"amount": 12})
        merged, _ = profile_upsert(tenant=scoped, identifiers={"email": "lead@family.example", "external_id": "crm-8"})
        assert merged.pk == lead.pk and Profile.objects.get(pk=lead.pk).lifecycle_stage == "customer"
        body = api_client.post(f"{URL}/{lead.pk}/unmerge", {}, format="json").json()
        assert (body["profile"]["lifecycle_stage"], body["profile"]["traits"]["total_orders"]) == ("lead", 0)
        assert (body["restored_profile"]["lifecycle_stage"], body["restored_profile"]["traits"]["total_orders"]) == (
            "customer", 1)

    def test_unmerge_can_block_the_identifier_that_caused_it(self, api_client, scoped):
        winner, loser = self._merged(scoped)
        api_client.post(f"{URL}/{winner.pk}/unmerge", {"block_identifier": True}, format="json")
        rules = api_client.get("/api/v1/cdp/identity-rules").json()
        assert rules["blocklist"] == [{"type": "external_id", "value": "crm-7"}]  # what linked the loser in
        profile_upsert(tenant=scoped, identifiers={"email": "shared@family.example", "external_id": "crm-7"})
        assert ProfileMerge.objects.filter(undone_at__isnull=True).count() == 0

    def test_unmerge_errors(self, api_client, scoped):
        lonely = ProfileFactory(tenant=scoped)
        assert_error(api_client.post(f"{URL}/{lonely.pk}/unmerge", {}, format="json"), 409, "NOTHING_TO_UNMERGE")
        assert_error(api_client.post(f"{URL}/00000000-0000-0000-0000-000000000000/unmerge", {}, format="json"), 404)
        winner, _ = self._merged(scoped)
        assert_error(api_client.post(f"{URL}/{winner.pk}/unmerge",
                                     {"merge_id": "00000000-0000-0000-0000-000000000000"}, format="json"), 404)


class TestReadsAndPatch:
    def test_patch_traits_and_stage(self, api_client, tenant):
        profile = ProfileFactory(tenant=tenant, traits={"first_name": "Ada", "tier": "b"})
        response = api_client.patch(f"{URL}/{profile.pk}", {"traits": {"tier": "a", "first_name": None},
                                                            "lifecycle_stage": "customer"}, format="json")
        assert response.status_code == 200
        assert response.json()["traits"] == {"tier": "a", "total_orders": 0, "ltv": 0.0}
        assert response.json()["lifecycle_stage"] == "customer"
        assert_error(api_client.patch(f"{URL}/{profile.pk}", {"email": "x@y.example"}, format="json"), 422)
        assert_error(api_client.patch(f"{URL}/{profile.pk}", {"traits": {"total_orders": 3}}, format="json"), 422)

    def test_unknown_profile_is_404(self, api_client):
        assert_error(api_client.get(f"{URL}/00000000-0000-0000-0000-000000000000"), 404, "NOT_FOUND")
        assert_error(api_client.get(f"{URL}/not-a-uuid"), 404)

    def test_search_by_query_and_filters_with_constant_queries(self, api_client, scoped,
                                                                django_assert_max_num_queries):
        for n in range(12):
            profile_upsert(tenant=scoped, identifiers={"email": f"p{n}@shop.example", "phone": f"+1415555{n:04d}"})
        profile_upsert(tenant=scoped, identifiers={"email": "john@example.org", "anonymous_id": "anon-xyz"})
        with django_assert_max_num_queries(12):
            response = api_client.get(URL, {"limit": 50})
        assert response.json()["total"] == 13
        found = api_client.get(URL, {"query": "john@example.org"}).json()
        assert [p["email"] for p in found["items"]] == ["john@example.org"]
        assert api_client.get(URL, {"query": "anon-xyz"}).json()["total"] == 1
        assert api_client.get(URL, {"query": "p1"}).json()["total"] == 3  # p1, p10, p11
        assert api_client.get(URL, {"lifecycle_stage": "customer"}).json()["total"] == 0
        assert_error(api_client.get(URL, {"lifecycle_stage": "vip"}), 422)
        unknown = api_client.get(URL, {"segment_id": "00000000-0000-0000-0000-000000000000"})  # a filter narrows
        assert unknown.status_code == 200 and unknown.json()["total"] == 0
        assert_error(api_client.get(URL, {"limit": 500}), 422)

    def test_statistics(self, api_client, scoped):
        profile_upsert(tenant=scoped, identifiers={"email": "a@shop.example", "phone": "+14155550001"})
        profile_upsert(tenant=scoped, identifiers={"email": "b@shop.example"})
        profile_upsert(tenant=scoped, identifiers={"anonymous_id": "x1"})
        c, _ = profile_upsert(tenant=scoped, identifiers={"email": "c@shop.example"})
        event_track(tenant=scoped, profile_id=c.pk, event_type="purchase", properties={"amount": 5})
        body = api_client.get(f"{URL}/statistics").json()
        assert body["total_profiles"] == 4
        assert body["by_lifecycle_stage"] == {"anonymous": 1, "subscriber": 0, "lead": 2, "customer": 1, "churned": 0}
        assert body["with_email"] == 3 and body["with_phone"] == 1
        assert body["email_share"] == 0.75 and body["phone_share"] == 0.25
        assert body["purchasers"] == 1 and body["merged_profiles"] == 0
        assert set(body["by_rfm_segment"]) >= {"champions", "lost"}


def test_identifiers_resolve_within_the_tenant_only(api_client, tenant, make_client):
    from tests.accounts.factories import TenantFactory, UserFactory

    other = make_client(UserFactory(tenant=TenantFactory(plan="enterprise"), role="owner"))
    mine = upsert(api_client, {"email": "same@shop.example", "external_id": "c-1"}).json()
    theirs = upsert(other, {"email": "SAME@shop.example", "external_id": "c-1"})
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]  # created, not found in tenant A
    tracked = other.post("/api/v1/cdp/events/track", {"identifiers": {"email": "same@shop.example"},
                                                      "event_type": "purchase", "properties": {"amount": 25}},
                         format="json").json()
    assert tracked["profile_id"] == theirs.json()["id"]
    assert api_client.get(f"{URL}/{mine['id']}").json()["traits"]["total_orders"] == 0
    assert_error(other.get(f"{URL}/{mine['id']}"), 404, "NOT_FOUND")
    preview = other.post("/api/v1/cdp/segments/preview", {"conditions": {"operator": "and", "rules": [
        {"field": "email", "operator": "equals", "value": "same@shop.example"}]}}, format="json").json()
    assert preview["estimated_size"] == 1 and preview["sample_profiles"][0]["id"] == theirs.json()["id"]
    assert not ProfileMerge.objects.unscoped().exists()
    assert Profile.objects.unscoped().filter(email="same@shop.example").count() == 2


class TestInterfaceForOtherApps:
    def test_find_by_email_and_purchase_counts(self, scoped):
        a, _ = profile_upsert(tenant=scoped, identifiers={"email": "buyer@shop.example"})
        for amount in (10, 20, 30):
            event_track(tenant=scoped, profile_id=a.pk, event_type="purchase", properties={"amount": amount})
        event_track(tenant=scoped, profile_id=a.pk, event_type="page_view")
        assert profile_find_by_email(tenant=scoped, email=" Buyer@Shop.example ").pk == a.pk
        assert profile_find_by_email(tenant=scoped, email="nobody@shop.example") is None
        assert profile_find_by_email(tenant=scoped, email="garbage") is None
        assert purchase_counts_by_email(tenant=scoped, emails=["BUYER@shop.example", "nobody@shop.example", "bad"]) == {
            "buyer@shop.example": 3, "nobody@shop.example": 0}

    def test_long_email_lists_are_looked_up_in_chunks(self, scoped, monkeypatch, django_assert_num_queries):
        import cdp.selectors.profiles as profiles
        monkeypatch.setattr(profiles, "IN_LIST_CHUNK", 2)
        known = {}
        for n in range(5):
            profile, _ = profile_upsert(tenant=scoped, identifiers={"email": f"p{n}@shop.example"})
            known[f"p{n}@shop.example"] = profile.pk
        event_track(tenant=scoped, profile_id=known["p4@shop.example"], event_type="purchase",
                    properties={"amount": 5})
        emails = [f"P{n}@shop.example" for n in range(5)] + ["nobody@shop.example"]
        with django_assert_num_queries(3):  # six e-mails, two per query
            assert profile_ids_by_email(tenant=scoped, emails=emails) == known
        counts = purchase_counts_by_email(tenant=scoped, emails=emails)
        assert counts == {**dict.fromkeys(known, 0), "p4@shop.example": 1, "nobody@shop.example": 0}


class TestIdentityRules:
    def test_get_and_patch(self, api_client):
        body = api_client.get("/api/v1/cdp/identity-rules").json()
        assert body["caps"]["external_id"] == 1 and body["blocklist"] == []
        assert "test@example.com" in body["builtin_blocklist"]["email"]
        patched = api_client.patch("/api/v1/cdp/identity-rules", {
            "blocklist": [{"type": "email", "value": " Shared@Office.example "},
                          {"type": "phone", "value": "+1 415 555 0100"}],
            "caps": {"email": 3}}, format="json").json()
        assert patched["blocklist"] == [{"type": "email", "value": "shared@office.example"},
                                        {"type": "phone", "value": "+14155550100"}]
        assert patched["caps"]["email"] == 3 and patched["caps"]["phone"] == 5

    @pytest.mark.parametrize("body,field", [
        ({"caps": {"email": 0}}, "caps.email"),
        ({"caps": {"email": "many"}}, "caps.email"),
        ({"blocklist": [{"type": "email", "value": "nope"}]}, "blocklist[0].value"),
        ({"blocklist": [{"type": "Bad Type", "value": "x"}]}, "blocklist[0].type"),
        ({"blocklist": [{"type": "email"}]}, "blocklist[0].value"),
        ({"priorities": []}, "priorities"),
    ])
    def test_bad_rules(self, api_client, body, field):
        assert field in assert_error(api_client.patch("/api/v1/cdp/identity-rules", body, format="json"), 422)["errors"]

    def test_only_admins_change_rules(self, tenant, make_client):
        from tests.accounts.factories import UserFactory

        manager = make_client(UserFactory(tenant=tenant, role="manager"))
        assert manager.get("/api/v1/cdp/identity-rules").status_code == 200
        assert_error(manager.patch("/api/v1/cdp/identity-rules", {"caps": {"email": 2}}, format="json"), 403)
