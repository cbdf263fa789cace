"""Lead scoring: score (upsert by e-mail), weights, outcomes learnt from the CDP, the nightly model fit."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Tenant
from stratum.api.exceptions import ValidationFailed

from .. import leadscoring as scoring
from ..cdp_link import cdp_event_counts, cdp_profile_id, cdp_profile_ids, cdp_purchase_counts
from ..models import Client, Lead, LeadOutcome, LeadScoringModel, ScoringMethod

# A lead with no CDP purchase this many days after it was scored counts as not converted.
OUTCOME_WINDOW_DAYS = 30
BATCH = 1000


def scoring_model_get(*, tenant: Tenant, client: Client) -> LeadScoringModel:
    """The client's scoring configuration (created with the default weights on first use)."""
    model, _ = LeadScoringModel.objects.for_tenant(tenant).get_or_create(
        tenant=tenant, client=client, defaults={"weights": dict(scoring.DEFAULT_WEIGHTS)})
    return model


def _events(lead_or_profile_id, cdp_events: int) -> float | None:
    """CDP events count for a linked lead; None lets `raw_data.events` stand in for an unlinked one."""
    return float(cdp_events) if lead_or_profile_id else None


def _score(model: LeadScoringModel, *, email: str, raw: dict,
           events: float | None = None) -> tuple[float, dict, str]:
    """(score, value, method): value holds the formula's components and, for a model score, each feature's
    contribution to the log-odds, so every score can be explained."""
    parts = scoring.components(email=email, raw=raw, events=events)
    value = parts.as_value()
    if model.method == ScoringMethod.LOGISTIC_REGRESSION and model.coefficients:
        row = scoring.features(email=email, raw=raw, events=events)
        value["model_contributions"] = scoring.model_contributions(model.coefficients, row)
        return scoring.model_score(model.coefficients, row), value, ScoringMethod.LOGISTIC_REGRESSION
    return scoring.formula_score(parts, model.weights or scoring.DEFAULT_WEIGHTS), value, ScoringMethod.FORMULA


def lead_score(*, tenant: Tenant, client: Client, email: str, raw_data: dict[str, Any], source: str = "website",
               outcome: str | None = None) -> tuple[Lead, bool]:
    """Scores a lead and stores the result, one row per client and e-mail (re-scoring updates it).
    Returns (lead, created)."""
    email = email.strip().lower()
    if outcome is not None and outcome not in LeadOutcome.values:
        raise ValidationFailed(errors={"outcome": [f"Must be one of {', '.join(LeadOutcome.values)}."]})
    model = scoring_model_get(tenant=tenant, client=client)
    profile_id = cdp_profile_id(tenant=tenant, email=email)
    events = cdp_event_counts(tenant=tenant, profile_ids=[profile_id]).get(profile_id, 0) if profile_id else 0
    score, value, method = _score(model, email=email, raw=raw_data, events=_events(profile_id, events))
    values = {"score": score, "value": value, "raw_data": raw_data, "source": source,
              "scored_with": method, "cdp_profile_id": profile_id, "cdp_events": events}
    if outcome is not None:
        values.update(outcome=outcome, outcome_source="api", outcome_at=timezone.now())
    leads = Lead.objects.for_tenant(tenant)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                lead = leads.select_for_update().filter(client=client, email=email).first()
                if lead is None:
                    return leads.create(tenant=tenant, client=client, email=email, **values), True
                for key, value in values.items():
                    setattr(lead, key, value)
                lead.save()
                return lead, False
        except IntegrityError:  # a concurrent first score of the same e-mail: update that row instead
            continue
    raise ValidationFailed(errors={"email": ["This lead is being scored concurrently; retry."]})


def leads_rescore(*, tenant: Tenant, client: Client) -> int:
    """Re-scores every lead of the client with its current method (after new weights or a new model)."""
    model = scoring_model_get(tenant=tenant, client=client)
    count = 0
    leads = (Lead.objects.for_tenant(tenant).filter(client=client)
             .only("id", "email", "raw_data", "cdp_profile_id", "cdp_events").order_by("id"))
    batch: list[Lead] = []
    for lead in leads.iterator(chunk_size=BATCH):
        score, value, method = _score(model, email=lead.email, raw=lead.raw_data,
                                      events=_events(lead.cdp_profile_id, lead.cdp_events))
        lead.score, lead.value, lead.scored_with = score, value, method
        batch.append(lead)
        if len(batch) >= BATCH:
            count += _flush(tenant, batch)
    return count + _flush(tenant, batch)


def _flush(tenant: Tenant, batch: list[Lead]) -> int:
    """Writes new scores with one prepared UPDATE executed for the whole batch (psycopg pipelines it):
    Django's bulk_update builds a CASE per row and field, which is several times slower at this size."""
    if not batch:
        return 0
    meta = Lead._meta
    pk, value, tenant_field = meta.pk, meta.get_field("value"), meta.get_field("tenant")
    params = [(lead.score, value.get_db_prep_value(lead.value, connection), lead.scored_with,
               pk.get_db_prep_value(lead.pk, connection), tenant_field.get_db_prep_value(tenant.pk, connection))
              for lead in batch]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {meta.db_table} SET score = %s, value = %s, scored_with = %s "
                           f"WHERE id = %s AND tenant_id = %s", params)
    count = len(batch)
    batch.clear()
    return count


@transaction.atomic
def scoring_weights_update(*, tenant: Tenant, client: Client, weights: dict[str, float]) -> LeadScoringModel:
    if set(weights) != set(scoring.DEFAULT_WEIGHTS):
        raise ValidationFailed(errors={"weights": ["Give engagement, demographic and behavioral."]})
    if sum(weights.values()) <= 0:
        raise ValidationFailed(errors={"weights": ["At least one weight must be above 0."]})
    model = scoring_model_get(tenant=tenant, client=client)
    model.weights = {k: float(v) for k, v in weights.items()}
    model.save(update_fields=["weights", "updated_at"])
    if model.method == ScoringMethod.FORMULA:
        leads_rescore(tenant=tenant, client=client)
    return model


def lead_outcomes_refresh(*, tenant: Tenant, client: Client, now: dt.datetime | None = None) -> int:
    """Learns outcomes from CDP purchases: a purchase means converted; none within OUTCOME_WINDOW_DAYS of the
    lead's creation means not converted. Outcomes given through the API or a CRM are kept as they are."""
    now = now or timezone.now()
    leads = list(Lead.objects.for_tenant(tenant).filter(client=client, outcome_source__in=("", "cdp"))
                 .only("id", "email", "created_at", "outcome", "outcome_source"))
    if not leads:
        return 0
    counts = cdp_purchase_counts(tenant=tenant, emails=[lead.email for lead in leads])
    cutoff = now - dt.timedelta(days=OUTCOME_WINDOW_DAYS)
    changed = []
    for lead in leads:
        outcome = (LeadOutcome.CONVERTED if counts.get(lead.email, 0) > 0
                   else LeadOutcome.NOT_CONVERTED if lead.created_at <= cutoff else None)
        if outcome != lead.outcome:
            lead.outcome, lead.outcome_source, lead.outcome_at = outcome, "cdp" if outcome else "", now
            changed.append(lead)
    Lead.objects.for_tenant(tenant).bulk_update(changed, ["outcome", "outcome_source", "outcome_at"], batch_size=BATCH)
    return len(changed)


def lead_events_refresh(*, tenant: Tenant, client: Client) -> int:
    """Links the client's leads to the CDP profiles of their e-mails as they are now (a profile that appeared,
    merged or split after the lead was scored) and brings their event counts up to date: two queries."""
    leads = list(Lead.objects.for_tenant(tenant).filter(client=client)
                 .only("id", "email", "cdp_profile_id", "cdp_events"))
    profiles = cdp_profile_ids(tenant=tenant, emails=[lead.email for lead in leads])
    counts = cdp_event_counts(tenant=tenant, profile_ids=list(set(profiles.values())))
    changed = []
    for lead in leads:
        profile_id = profiles.get(lead.email.lower())
        events = counts.get(profile_id, 0) if profile_id else 0
        if (profile_id, events) != (lead.cdp_profile_id, lead.cdp_events):
            lead.cdp_profile_id, lead.cdp_events = profile_id, events
            changed.append(lead)
    Lead.objects.for_tenant(tenant).bulk_update(changed, ["cdp_profile_id", "cdp_events"], batch_size=BATCH)
    return len(changed)


def lead_model_fit(*, tenant: Tenant, client: Client) -> LeadScoringModel:
    """The nightly job for one client: refresh outcomes and CDP events, fit the logistic regression when there
    are enough labelled leads (else stay on, or go back to, the formula), re-score the client's leads."""
    lead_outcomes_refresh(tenant=tenant, client=client)
    lead_events_refresh(tenant=tenant, client=client)
    labelled = list(Lead.objects.for_tenant(tenant).filter(client=client, outcome__isnull=False)
                    .values_list("email", "raw_data", "cdp_profile_id", "cdp_events", "outcome"))
    fitted = scoring.model_fit(
        [scoring.features(email=e, raw=r, events=_events(p, n)) for e, r, p, n, _ in labelled],
        [int(o == LeadOutcome.CONVERTED) for *_, o in labelled])
    with transaction.atomic():
        model = scoring_model_get(tenant=tenant, client=client)
        model = LeadScoringModel.objects.for_tenant(tenant).select_for_update().get(pk=model.pk)
        model.training_samples = len(labelled)
        model.positive_samples = sum(1 for *_, o in labelled if o == LeadOutcome.CONVERTED)
        if fitted is None:
            model.method, model.coefficients, model.auc = ScoringMethod.FORMULA, {}, None
        else:
            model.method, model.coefficients, model.auc = ScoringMethod.LOGISTIC_REGRESSION, fitted.coefficients, fitted.auc
            model.trained_at = timezone.now()
        model.save()
        leads_rescore(tenant=tenant, client=client)
    return model
