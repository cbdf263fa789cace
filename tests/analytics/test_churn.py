"""Predictive churn: the model's formulas, the nightly refresh, the API, profiles and segment conditions."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from scipy import integrate, special

from analytics.churn import bgnbd
from analytics.churn.services import churn_refresh, purchase_histories
from analytics.models import ChurnModelFit, ChurnPrediction
from analytics.tasks import churn_refresh_all
from cdp.models import Event, Profile
from tests.accounts.factories import TenantFactory, UserFactory
from tests.helpers import assert_error

from .conftest import NOW, event
from .factories import ChurnPredictionFactory

URL = "/api/v1/analytics/churn"


class TestModel:
    @pytest.mark.parametrize("x, t_x, T", [(0, 0.0, 50.0), (2, 30.0, 100.0), (7, 160.0, 170.0)])
    def test_likelihood_equals_the_integral_over_rate_and_dropout(self, x, t_x, T):
        r, alpha, a, b = 0.7, 10.0, 1.5, 2.5
        gamma_norm = alpha ** r / math.gamma(r)
        beta_norm = 1 / special.beta(a, b)

        def individual(lam, p):  # alive after x+1 drop-out chances, or dropped right after the last purchase
            alive = (1 - p) ** (x + 1) * lam ** x * math.exp(-lam * T)
            dead = p * (1 - p) ** x * lam ** x * math.exp(-lam * t_x)
            density = (gamma_norm * lam ** (r - 1) * math.exp(-alpha * lam)
                       * beta_norm * p ** (a - 1) * (1 - p) ** (b - 1))
            return (alive + dead) * density

        value, _ = integrate.dblquad(individual, 0, 1, 0, np.inf, epsabs=1e-30, epsrel=1e-10)
        params = bgnbd.ModelParams(r=r, alpha=alpha, a=a, b=b)
        assert float(bgnbd.log_likelihood(params, x, t_x, T)) == pytest.approx(np.log(value), rel=1e-6)

    def test_fit_recovers_the_parameters_of_simulated_customers(self):
        truth = bgnbd.ModelParams(r=0.8, alpha=20.0, a=0.9, b=3.0)
        x, t_x, T = bgnbd.simulate(truth, 6000, 365, np.random.default_rng(1))
        histories, counts = np.unique(np.stack([x, np.floor(t_x), T], axis=1), axis=0, return_counts=True)
        estimate, _ = bgnbd.fit(*histories.T, counts)
        assert estimate.r == pytest.approx(truth.r, rel=0.15)
        assert estimate.alpha == pytest.approx(truth.alpha, rel=0.2)
        assert estimate.a / (estimate.a + estimate.b) == pytest.approx(truth.a / (truth.a + truth.b), rel=0.2)

    def test_recent_frequent_buyers_are_more_alive(self):
        params = bgnbd.ModelParams(r=0.8, alpha=20.0, a=1.2, b=3.0)
        alive = bgnbd.probability_alive(params, [5, 5, 0], [350, 100, 0], [365, 365, 365])
        assert alive[0] > alive[1]  # same frequency, recent last purchase
        expected = bgnbd.expected_purchases(params, 90, [5, 5], [350, 100], [365, 365])
        assert expected[0] > expected[1] > 0
        assert bgnbd.expected_purchases(bgnbd.ModelParams(1, 1, 0.8, 1), 90, [1], [1], [2]) is None  # a ≤ 1


@pytest.fixture
def customers(tenant, scoped):
    """60 customers: regulars (recent, frequent), lapsed (frequent long ago) and one-time buyers."""
    rows, profiles = [], {}
    for i in range(60):
        profile = Profile.objects.create(tenant=tenant, email=f"c{i}@shop.example", lifecycle_stage="customer")
        kind = ("regular", "lapsed", "once")[i % 3]
        profiles.setdefault(kind, []).append(profile)
        if kind == "regular":
            days = [300 - 25 * k for k in range(12)] + [3]
        elif kind == "lapsed":
            days = [330 - 12 * k for k in range(8)]
        else:
            days = [200 + i]
        rows += [event(tenant, profile, "purchase", NOW - dt.timedelta(days=d, hours=i % 5), revenue=40) for d in days]
    Profile.objects.create(tenant=tenant, email="lead@shop.example")  # never bought: no prediction
    Event.objects.bulk_create(rows)
    return profiles


class TestRefresh:
    def test_histories_from_purchase_days(self, tenant, customers):
        ids, x, t_x, age = purchase_histories(tenant=tenant, now=NOW)
        regular = customers["regular"][0]
        i = ids.index(regular.pk)
        assert (x[i], t_x[i], age[i]) == (12, 297, 300)

    def test_predictions_for_every_customer_and_risk_bands(self, tenant, customers):
        fit = churn_refresh(tenant=tenant)
        assert fit.status == "ok" and fit.customers == 60 and fit.repeat_customers == 40
        assert min(fit.r, fit.alpha, fit.a, fit.b) > 0
        predictions = {p.profile_id: p for p in ChurnPrediction.objects.all()}
        assert len(predictions) == 60
        regular = np.mean([predictions[p.pk].churn_probability for p in customers["regular"]])
        lapsed = np.mean([predictions[p.pk].churn_probability for p in customers["lapsed"]])
        assert lapsed > 0.7 > 0.2 > regular
        assert all(predictions[p.pk].risk == "high" for p in customers["lapsed"])
        assert churn_refresh(tenant=tenant).status == "ok" and ChurnPrediction.objects.count() == 60  # idempotent

    def test_too_few_customers_keep_no_predictions(self, tenant, scoped):
        ChurnPredictionFactory(tenant=tenant)
        fit = churn_refresh(tenant=tenant)
        assert fit.status == "insufficient_data" and "at least 50 customers" in fit.message
        assert not ChurnPrediction.objects.exists()

    def test_nightly_job_refits_tenants_with_the_feature_and_clears_the_others(self, tenant, customers):
        professional = TenantFactory(plan="professional")
        ChurnPredictionFactory(tenant=professional)
        from .factories import ChurnModelFitFactory

        ChurnModelFitFactory(tenant=professional)
        assert churn_refresh_all() == 1
        assert ChurnPrediction.objects.for_tenant(tenant).count() == 60
        assert not ChurnPrediction.objects.for_tenant(professional).exists()
        assert not ChurnModelFit.objects.for_tenant(professional).exists()


class TestApi:
    def test_summary_list_and_refresh(self, api_client, tenant, customers, django_capture_on_commit_callbacks):
        assert api_client.get(URL).json()["status"] == "not_computed"
        with django_capture_on_commit_callbacks(execute=True) as queued:  # queued after commit; eager in tests
            assert api_client.post(f"{URL}/refresh").status_code == 202
        assert len(queued) == 1
        summary = api_client.get(URL).json()
        assert summary["status"] == "ok" and summary["insufficient_data"] is False and summary["model"] == "mbg_nbd"
        assert sum(summary["by_risk"].values()) == 60 and set(summary["parameters"]) == {"r", "alpha", "a", "b"}
        listed = api_client.get(f"{URL}/profiles", {"risk": "high", "limit": 5}).json()
        assert listed["total"] == summary["by_risk"]["high"] and len(listed["items"]) == 5
        probabilities = [p["churn_probability"] for p in listed["items"]]
        assert probabilities == sorted(probabilities, reverse=True)
        first = listed["items"][0]
        assert {"profile_id", "email", "churn_risk", "expected_purchases_90d", "recency_days"} <= set(first)
        assert api_client.get(f"{URL}/profiles", {"min_probability": 0.99}).json()["total"] <= listed["total"]
        assert "risk" in assert_error(api_client.get(f"{URL}/profiles", {"risk": "extreme"}), 422)["errors"]
        assert "min_probability" in assert_error(api_client.get(f"{URL}/profiles", {"min_probability": 2}),
                                                 422)["errors"]

    def test_profiles_show_their_prediction(self, api_client, tenant, customers):
        churn_refresh(tenant=tenant)
        lapsed = customers["lapsed"][0]
        body = api_client.get(f"/api/v1/cdp/profiles/{lapsed.pk}").json()
        prediction = ChurnPrediction.objects.get(profile=lapsed)
        assert body["predictions"]["churn_probability"] == round(prediction.churn_probability, 4)
        assert body["predictions"]["churn_risk"] == "high"
        listed = api_client.get("/api/v1/cdp/profiles", {"query": "lead@shop.example"}).json()
        assert listed["items"][0]["predictions"] is None

    def test_segment_conditions_on_predictions(self, api_client, tenant, customers):
        churn_refresh(tenant=tenant)
        preview = api_client.post("/api/v1/cdp/segments/preview", {"conditions": {"operator": "and", "rules": [
            {"field": "predictions.churn_probability", "operator": "greater_than", "value": 0.7}]}}, format="json")
        assert preview.status_code == 200, preview.content
        expected = ChurnPrediction.objects.filter(churn_probability__gt=0.7).count()
        assert preview.json()["estimated_size"] == expected >= 20
        by_risk = api_client.post("/api/v1/cdp/segments/preview", {"conditions": {"operator": "and", "rules": [
            {"field": "predictions.churn_risk", "operator": "equals", "value": "high"}]}}, format="json").json()
        assert by_risk["estimated_size"] == ChurnPrediction.objects.filter(risk="high").count()
        missing = api_client.post("/api/v1/cdp/segments/preview", {"conditions": {"operator": "and", "rules": [
            {"field": "predictions.churn_probability", "operator": "not_exists"}]}}, format="json").json()
        assert missing["estimated_size"] == 1  # the lead who never bought
        assert_error(api_client.post("/api/v1/cdp/segments/preview", {"conditions": {"operator": "and", "rules": [
            {"field": "predictions.churn_risk", "operator": "equals", "value": "extreme"}]}}, format="json"), 422)

    def test_gate(self, db, make_client):
        tenant = TenantFactory(plan="professional")
        client = make_client(UserFactory(tenant=tenant))
        for method, url in (("get", URL), ("get", f"{URL}/profiles"), ("post", f"{URL}/refresh")):
            assert_error(getattr(client, method)(url), 403, "FEATURE_NOT_AVAILABLE")
