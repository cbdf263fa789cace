"""seed_demo's CDP part: profiles with consistent purchase histories, RFM, segments of exact size, synced
audiences — and a second run changes nothing."""
import io

import pytest
from django.db.models import Count, Q, Sum

from cdp import demo
from cdp.models import Audience, AudienceMember, AudienceSyncRun, Event, Identity, Profile, ProfileRfm, Segment
from cdp.segmentation.compiler import segment_queryset
from tests.campaigns.factories import AdAccountFactory

PROFILES = 300  # the real seed makes 10,000: the same code, fewer rows


@pytest.fixture
def seeded(scoped, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(demo, "PROFILES", PROFILES)
    account = AdAccountFactory(tenant=scoped, platform="demo", external_id="act_demo_1", name="Demo Shop")
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # segments are built once the data is committed
        demo.seed(tenant=scoped, stdout=out)
    return scoped, account, out.getvalue()


def snapshot():
    return {model.__name__: model.objects.count()
            for model in (Profile, Identity, Event, ProfileRfm, Segment, Audience, AudienceMember, AudienceSyncRun)}


def test_profiles_identities_and_purchase_histories(seeded):
    tenant, _, out = seeded
    profiles = Profile.objects.all()
    assert profiles.count() == PROFILES
    assert profiles.filter(external_id__startswith="demo_cust_").count() == PROFILES
    with_email, with_phone = profiles.exclude(email="").count(), profiles.exclude(phone="").count()
    assert 0 < with_phone < with_email < PROFILES
    # external_id and anonymous_id for everyone, e-mail and phone where known
    assert Identity.objects.count() == 2 * PROFILES + with_email + with_phone
    assert Identity.objects.filter(type="email").count() == with_email
    # orders and LTV are exactly what the purchase events say
    totals = profiles.annotate(n=Count("events", filter=Q(events__event_type="purchase")),
                               revenue=Sum("events__revenue", filter=Q(events__event_type="purchase")))
    mismatched = [p.pk for p in totals if p.n != p.total_orders or (p.revenue or 0) != p.ltv]
    assert mismatched == []
    buyers = profiles.filter(total_orders__gt=0)
    assert 0 < buyers.count() < PROFILES
    assert set(buyers.values_list("lifecycle_stage", flat=True)) <= {"customer", "churned"}
    assert ProfileRfm.objects.count() == buyers.count()
    # touchpoints carry what attribution reads
    touch = Event.objects.filter(event_type="ad_click").first()
    assert {"channel", "utm_source", "campaign"} <= set(touch.properties)
    assert f"{PROFILES} profiles" in out


def test_segments_are_exact_and_audiences_synced_to_the_demo_platform(seeded):
    tenant, account, _ = seeded
    segments = {s.name: s for s in Segment.objects.all()}
    assert sorted(segments) == ["At risk", "Leads from paid social", "Repeat buyers (90 days)", "VIP customers"]
    for segment in segments.values():
        assert segment.member_count == segment_queryset(tenant=tenant, conditions=segment.conditions).count()
    assert segments["VIP customers"].member_count == Profile.objects.filter(ltv__gt=1000).count() > 0
    audiences = list(Audience.objects.order_by("name"))
    assert [(a.segment.name, a.ad_account_id, a.sync_frequency) for a in audiences] == [
        ("At risk", account.pk, "weekly"), ("VIP customers", account.pk, "daily")]
    for audience in audiences:
        run = AudienceSyncRun.objects.get(audience=audience)
        assert (run.status, run.added, run.removed) == ("success", audience.segment.member_count, 0)
        assert audience.member_count == run.added
        assert audience.external_audience_id.startswith("demo_aud_")
        assert 0 <= run.matched <= run.added


def test_a_second_run_changes_nothing(seeded, django_capture_on_commit_callbacks):
    tenant, _, _ = seeded
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        demo.seed(tenant=tenant, stdout=io.StringIO())
    assert len(callbacks) == 1  # the segments and audiences step ran again, and found everything in place
    assert snapshot() == before
