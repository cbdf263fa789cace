"""Lead scoring: the documented formula, the per-client logistic regression, the API."""
import math

import pytest

from tests.helpers import assert_error
from tests.workflow.conftest import data
from tests.workflow.factories import ClientFactory, LeadFactory
from workflow import leadscoring
from workflow.models import Lead, LeadScoringModel
from workflow.services.leads import lead_events_refresh, lead_model_fit, lead_outcomes_refresh, lead_score
from workflow.tasks import lead_models_fit_nightly

pytestmark = pytest.mark.django_db

SPEC = {"email": "jane@acme.com", "raw_data": {"page_views": 10, "time_on_site": 200, "form_submissions": 1}}


def test_formula_components_and_score():
    parts = leadscoring.components(email="jane@acme.com",
                                   raw={"page_views": 10, "time_on_site": 300, "form_submissions": 1})
    assert (parts.engagement, parts.demographic, round(parts.behavioral, 4)) == (0.5, 0.6, 0.2)
    assert leadscoring.formula_score(parts) == 0.4  # 0.4·0.5 + 0.2·0.6 + 0.4·0.2
    free = leadscoring.components(email="jane@gmail.com", raw={"company": "Acme", "job_title": "CMO"})
    assert round(free.demographic, 4) == 0.64  # 0.6·0.4 + 0.2 + 0.2
    assert leadscoring.components(email="x@mailinator.com", raw={}).demographic == 0.0
    capped = leadscoring.components(email="a@b.io", raw={"page_views": 500, "time_on_site": 10_000,
                                                         "form_submissions": 9, "events": 100})
    assert (capped.engagement, capped.behavioral) == (1.0, 1.0)
    assert leadscoring.formula_score(capped, {"engagement": 1, "demographic": 0, "behavioral": 0}) == 1.0


def test_score_endpoint_in_spec_shape_and_rescoring(team, tenant):
    body = {**SPEC, "client_id": str(team.brand.pk)}
    response = team.api("member").post("/api/v1/leadscoring/score", body, format="json")
    assert response.status_code == 200 and response.json()["message"] == "Lead scored"
    lead = data(response)
    assert set(lead) >= {"id", "email", "score", "value", "raw_data", "source", "created_at"}
    # engagement 0.5·0.5 + 0.5·(200/600) = 0.4167; behavioral 0.2; demographic 0.6
    assert lead["value"] == {"engagement_score": 0.4167, "demographic_score": 0.6, "behavioral_score": 0.2}
    assert lead["score"] == 0.3667 and lead["source"] == "website" and lead["scored_with"] == "formula"
    again = team.api("member").post("/api/v1/leadscoring/score", {
        **body, "email": "JANE@acme.com", "raw_data": {"page_views": 20, "time_on_site": 600, "form_submissions": 3},
        "source": "landing_page"}, format="json")
    assert again.json()["message"] == "Lead re-scored" and data(again)["id"] == lead["id"]
    assert data(again)["score"] == 0.76 and Lead.objects.for_tenant(tenant).count() == 1


@pytest.mark.parametrize("change, field", [
    ({"client_id": None}, "client_id"),
    ({"email": "not-an-email"}, "email"),
    ({"raw_data": {"page_views": -1}}, "raw_data"),
    ({"raw_data": {"page_views": "ten"}}, "raw_data"),
    ({"raw_data": {"company": {"nested": True}}}, "raw_data"),
    ({"raw_data": {"company": "x" * 501}}, "raw_data"),
    ({"raw_data": "page_views=3"}, "raw_data"),
    ({"outcome": "maybe"}, "outcome"),
    ({"score": 1}, "score"),
])
def test_score_bad_input(team, change, field):
    body = {**SPEC, "client_id": str(team.brand.pk), **change}
    body = {k: v for k, v in body.items() if v is not None}
    errors = assert_error(team.api("member").post("/api/v1/leadscoring/score", body, format="json"), 422)["errors"]
    assert field in errors


def test_score_needs_a_visible_client_and_member_role(team, tenant):
    body = {**SPEC, "client_id": str(team.brand.pk)}
    assert_error(team.api("viewer").post("/api/v1/leadscoring/score", body, format="json"), 403)
    assert_error(team.api("outsider").post("/api/v1/leadscoring/score", body, format="json"), 404)
    other = {**SPEC, "client_id": str(ClientFactory(tenant=tenant).pk)}
    assert_error(team.api("member").post("/api/v1/leadscoring/score", other, format="json"), 404)


def test_results_filters_and_offset_pagination(team, tenant):
    for n, score in enumerate((0.1, 0.35, 0.6, 0.85)):
        LeadFactory(tenant=tenant, client=team.brand, score=score, email=f"l{n}@acme.example")
    LeadFactory(tenant=tenant, client=ClientFactory(tenant=tenant), score=0.99)
    api = team.api("viewer")
    body = data(api.get("/api/v1/leadscoring/results"))
    assert [r["score"] for r in body["results"]] == [0.85, 0.6, 0.35, 0.1]
    assert (body["total_items"], body["limit"], body["offset"]) == (4, 100, 0)
    ranged = data(api.get(f"/api/v1/leadscoring/results?client_id={team.brand.pk}&min_score=0.3&max_score=0.6"))
    assert [r["score"] for r in ranged["results"]] == [0.6, 0.35]
    page = data(api.get("/api/v1/leadscoring/results?limit=2&offset=1"))
    assert [r["score"] for r in page["results"]] == [0.6, 0.35] and page["total_items"] == 4
    assert data(team.api("owner").get("/api/v1/leadscoring/results"))["total_items"] == 5
    for query in ("min_score=2", "max_score=-1", "min_score=0.8&max_score=0.2", "min_score=high", "limit=x",
                  "limit=101", "limit=1000"):
        assert_error(api.get(f"/api/v1/leadscoring/results?{query}"), 422)
    assert data(team.api("outsider").get(f"/api/v1/leadscoring/results?client_id={team.brand.pk}"))[
        "results"] == []


def test_config_weights_rescore(team, tenant):
    url = f"/api/v1/leadscoring/config?client_id={team.brand.pk}"
    config = data(team.api("viewer").get(url))
    assert config["method"] == "formula" and config["weights"] == leadscoring.DEFAULT_WEIGHTS
    assert config["auc"] is None and config["min_labelled_leads"] == 200
    team.api("member").post("/api/v1/leadscoring/score", {**SPEC, "client_id": str(team.brand.pk)}, format="json")
    weights = {"engagement": 1, "demographic": 0, "behavioral": 0}
    assert_error(team.api("member").put(url, {"weights": weights}, format="json"), 403)
    assert data(team.api("admin").put(url, {"weights": weights}, format="json"))["weights"] == {
        "engagement": 1.0, "demographic": 0.0, "behavioral": 0.0}
    assert Lead.objects.for_tenant(tenant).get().score == 0.4167  # engagement only
    assert_error(team.api("admin").put(url, {"weights": {"engagement": 0, "demographic": 0, "behavioral": 0}},
                                       format="json"), 422)
    assert_error(team.api("admin").put(url, {"weights": {"engagement": 1}}, format="json"), 422)
    assert_error(team.api("admin").get("/api/v1/leadscoring/config"), 422)


def labelled_leads(tenant, client, count, start=0):
    """Leads whose conversion follows form submissions and page views, with some noise."""
    rows = []
    for i in range(start, start + count):
        converted = i % 3 == 0
        forms = (1 + i % 3) if converted else (1 if i % 7 == 0 else 0)
        views = (8 + i % 9) if converted else (2 + i % 11)
        rows.append(Lead(tenant=tenant, client=client, email=f"lead{i}@{'gmail.com' if i % 4 else 'corp.example'}",
                         score=0, raw_data={"page_views": views, "time_on_site": 30 * views,
                                            "form_submissions": forms},
                         outcome="converted" if converted else "not_converted", outcome_source="api"))
    Lead.objects.for_tenant(tenant).bulk_create(rows)


def test_model_is_fitted_once_there_are_enough_labelled_leads(team, tenant, scoped):
    labelled_leads(tenant, team.brand, 199)
    model = lead_model_fit(tenant=tenant, client=team.brand)
    assert model.method == "formula" and model.auc is None and model.training_samples == 199
    labelled_leads(tenant, ClientFactory(tenant=tenant), 5)  # another client's leads do not count
    Lead.objects.create(tenant=tenant, client=team.brand, email="extra@corp.example", score=0,
                        raw_data={"page_views": 12, "form_submissions": 2}, outcome="converted", outcome_source="api")
    model = lead_model_fit(tenant=tenant, client=team.brand)
    assert model.method == "logistic_regression" and model.training_samples == 200
    assert model.positive_samples == 68 and 0.8 < model.auc <= 1.0
    assert model.coefficients["features"] == list(leadscoring.FEATURES) and model.trained_at is not None
    assert set(Lead.objects.filter(client=team.brand).values_list("scored_with", flat=True)) == {"logistic_regression"}
    # the stored coefficients reproduce scikit-learn's probabilities: a keen lead outscores a cold one
    keen, _ = lead_score(tenant=tenant, client=team.brand, email="keen@corp.example",
                         raw_data={"page_views": 15, "time_on_site": 450, "form_submissions": 3})
    cold, _ = lead_score(tenant=tenant, client=team.brand, email="cold@gmail.com", raw_data={"page_views": 2})
    assert keen.scored_with == "logistic_regression" and keen.score > 0.8 > 0.2 > cold.score
    assert set(keen.value) == {"engagement_score", "demographic_score", "behavioral_score", "model_contributions"}
    # the contributions explain the score: they add up to its log-odds
    contributions = keen.value["model_contributions"]
    assert set(contributions) == {"intercept", *leadscoring.FEATURES}
    logit = sum(contributions.values())
    assert abs(1 / (1 + math.exp(-logit)) - keen.score) < 0.001


def test_the_model_is_exposed_refitted_on_demand_and_weights_say_where_they_apply(team, tenant, scoped):
    url = f"/api/v1/leadscoring/config?client_id={team.brand.pk}"
    refit = f"/api/v1/leadscoring/refit?client_id={team.brand.pk}"
    formula = data(team.api("viewer").get(url))
    assert formula["model"] is None and formula["weights_apply_to"] == "formula"
    labelled_leads(tenant, team.brand, 150)
    assert_error(team.api("member").post(refit), 403)
    assert_error(team.api("outsider").post(refit), 404)
    response = team.api("admin").post(refit)
    body = response.json()
    assert body["message"].startswith("Not enough labelled leads to fit a model (150 of 200")
    assert body["data"]["model"] is None and body["data"]["method"] == "formula"

    labelled_leads(tenant, team.brand, 60, start=150)  # 210 labelled now: refit at once instead of waiting for the night
    body = team.api("admin").post(refit).json()
    assert body["message"].startswith("Model refitted on 210 labelled leads (AUC ")
    model = body["data"]["model"]
    stored = LeadScoringModel.objects.get(client=team.brand)
    assert model["features"] == list(leadscoring.FEATURES)
    assert model["coefficients"] == dict(zip(leadscoring.FEATURES, stored.coefficients["coef"], strict=True))
    assert model["intercept"] == stored.coefficients["intercept"] and model["auc"] == stored.auc
    assert (model["labelled_leads"], model["converted_leads"]) == (210, stored.positive_samples)
    assert model["fitted_at"] is not None and body["data"]["weights_apply_to"] == "formula_fallback"
    lead = data(team.api("viewer").get("/api/v1/leadscoring/results?limit=1"))["results"][0]
    assert lead["scored_with"] == "logistic_regression" and "model_contributions" in lead["value"]

    changed = team.api("admin").put(url, {"weights": {"engagement": 1, "demographic": 1, "behavioral": 1}},
                                    format="json").json()
    assert changed["message"] == ("Weights saved. This client's leads are scored by the fitted model: the weights "
                                  "apply to the formula fallback only.")
    assert changed["data"]["weights"] == {"engagement": 1.0, "demographic": 1.0, "behavioral": 1.0}


def test_nightly_job_fits_each_client(team, tenant, scoped):
    labelled_leads(tenant, team.brand, 210)
    assert lead_models_fit_nightly.delay().get() == 1
    assert LeadScoringModel.objects.get(client=team.brand).method == "logistic_regression"


def test_leads_link_to_cdp_profiles_and_learn_outcomes_from_purchases(team, tenant, scoped, time_machine):
    from cdp.services.events import event_track
    from cdp.services.profiles import profile_upsert

    time_machine.move_to("2026-03-01T12:00:00Z", tick=False)
    buyer, _ = profile_upsert(tenant=tenant, identifiers={"email": "Buyer@Acme.com"})
    for n in range(5):
        event_track(tenant=tenant, event_type="page_view", profile_id=buyer.pk, message_id=f"pv-{n}")
    lead, _ = lead_score(tenant=tenant, client=team.brand, email="buyer@acme.com", raw_data={"events": 100})
    assert lead.cdp_profile_id == buyer.pk and lead.cdp_events == 5
    assert lead.value["behavioral_score"] == 0.08  # 0.4 · 5/25: the CDP's events, not the body's
    browser, _ = lead_score(tenant=tenant, client=team.brand, email="browser@acme.com", raw_data={"events": 25})
    assert browser.cdp_profile_id is None and browser.value["behavioral_score"] == 0.4  # unlinked: the body's
    recent, _ = lead_score(tenant=tenant, client=team.brand, email="recent@acme.com", raw_data={})

    event_track(tenant=tenant, event_type="purchase", profile_id=buyer.pk, properties={"revenue": 120},
                message_id="order-1")
    time_machine.move_to("2026-04-15T12:00:00Z", tick=False)
    Lead.objects.filter(pk=recent.pk).update(created_at="2026-04-10T00:00:00Z")
    assert lead_outcomes_refresh(tenant=tenant, client=team.brand) == 2
    outcomes = dict(Lead.objects.values_list("email", "outcome"))
    # a purchase: converted; 30+ days without one: not converted; too recent to tell: unknown
    assert outcomes == {"buyer@acme.com": "converted", "browser@acme.com": "not_converted", "recent@acme.com": None}
    assert Lead.objects.get(email="buyer@acme.com").outcome_source == "cdp"


def test_a_lead_scored_before_its_profile_existed_is_linked_by_the_nightly_job(team, tenant, scoped):
    from cdp.services.events import event_track
    from cdp.services.profiles import profile_upsert

    lead, _ = lead_score(tenant=tenant, client=team.brand, email="Later@Acme.com", raw_data={"events": 25})
    assert lead.cdp_profile_id is None and lead.value["behavioral_score"] == 0.4  # the body's events
    profile, _ = profile_upsert(tenant=tenant, identifiers={"email": "later@acme.com"})
    for n in range(5):
        event_track(tenant=tenant, event_type="page_view", profile_id=profile.pk, message_id=f"late-{n}")
    assert lead_events_refresh(tenant=tenant, client=team.brand) == 1
    assert lead_events_refresh(tenant=tenant, client=team.brand) == 0  # safe to run twice
    lead.refresh_from_db()
    assert (lead.cdp_profile_id, lead.cdp_events) == (profile.pk, 5)
    lead_model_fit(tenant=tenant, client=team.brand)  # the nightly job re-scores with the CDP's events
    lead.refresh_from_db()
    assert lead.value["behavioral_score"] == 0.08


def test_outcomes_given_through_the_api_are_kept(team, tenant, scoped):
    lead, _ = lead_score(tenant=tenant, client=team.brand, email="crm@acme.com", raw_data={}, outcome="converted")
    assert lead_outcomes_refresh(tenant=tenant, client=team.brand) == 0
    lead.refresh_from_db()
    assert (lead.outcome, lead.outcome_source) == ("converted", "api")


def test_results_created_range(team, tenant, time_machine):
    import datetime

    for day in (1, 2):
        time_machine.move_to(datetime.datetime(2026, 3, day, 12, 0, tzinfo=datetime.UTC), tick=False)
        LeadFactory(tenant=tenant, client=team.brand, email=f"day{day}@acme.example")
    api = team.api("viewer")
    body = data(api.get("/api/v1/leadscoring/results?created_from=2026-03-02&created_to=2026-03-02"))
    assert [r["email"] for r in body["results"]] == ["day2@acme.example"] and body["total_items"] == 1
    assert_error(api.get("/api/v1/leadscoring/results?created_from=2026-03-02&created_to=2026-03-01"), 422)
