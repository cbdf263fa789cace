"""RFM: quintile scores in SQL, the named segments, ties, clearing, the endpoint and the nightly job."""
import datetime as dt

from django.utils import timezone

from cdp.models import Profile, ProfileRfm
from cdp.services import rfm_recompute
from cdp.tasks import rfm_recompute_all
from stratum.api.schedules import register  # noqa: F401  (the nightly job is registered by the app)
from tests.cdp.factories import EventFactory, ProfileFactory, ProfileRfmFactory
from tests.helpers import assert_error


def buyer(tenant, *, purchases: int, days_ago: int, total: float, **fields):
    profile = ProfileFactory(tenant=tenant, **fields)
    now = timezone.now()
    for n in range(purchases):
        EventFactory(tenant=tenant, profile=profile, event_type="purchase", revenue=round(total / purchases, 2),
                     timestamp=now - dt.timedelta(days=days_ago + n * 3))
    return profile


def test_scores_and_segments(scoped):
    people = [buyer(scoped, purchases=n, days_ago=d, total=t)
              for n, d, t in ((1, 100, 10), (2, 50, 40), (3, 20, 90), (4, 10, 160), (5, 1, 250))]
    browser = ProfileFactory(tenant=scoped)
    EventFactory(tenant=scoped, profile=browser, event_type="page_view")
    stale = ProfileRfmFactory(tenant=scoped, segment="lost", recency_score=1, frequency_score=1,
                              monetary_score=1).profile
    assert rfm_recompute(tenant=scoped) == {"scored": 5, "previous": 1}
    scores = [(r.recency_score, r.frequency_score, r.monetary_score, r.segment)
              for r in (ProfileRfm.objects.get(pk=x.pk) for x in people)]
    assert scores == [(1, 1, 1, "lost"), (2, 2, 2, "hibernating"), (3, 3, 3, "need_attention"),
                      (4, 4, 4, "loyal_customers"), (5, 5, 5, "champions")]
    assert Profile.objects.get(pk=browser.pk).rfm_scores is None
    assert Profile.objects.get(pk=stale.pk).rfm_scores is None  # no purchases any more: no scores


def test_ties_share_a_score_and_mixed_profiles_map_to_the_grid(scoped):
    one_timers = [buyer(scoped, purchases=1, days_ago=2 + i, total=20 + i) for i in range(3)]
    loyal_lapsed = buyer(scoped, purchases=6, days_ago=200, total=900)
    fresh_big = buyer(scoped, purchases=5, days_ago=0, total=800)
    rfm_recompute(tenant=scoped)
    f_scores = {ProfileRfm.objects.get(pk=p.pk).frequency_score for p in one_timers}
    assert f_scores == {1}  # equal frequency -> equal score (NTILE would split them)
    lapsed = ProfileRfm.objects.get(pk=loyal_lapsed.pk)
    assert (lapsed.recency_score, lapsed.frequency_score, lapsed.monetary_score) == (1, 5, 5)
    assert lapsed.segment == "cannot_lose_them"
    best = ProfileRfm.objects.get(pk=fresh_big.pk)
    assert best.recency_score == 5 and best.segment == "champions"
    newest_one_timer = ProfileRfm.objects.get(pk=one_timers[0].pk)
    # 5 purchasers: recency ranks 0..4 -> 1..5 (2nd most recent: 4); the fewest orders and the least money: 1, 1
    assert (newest_one_timer.recency_score, newest_one_timer.frequency_score, newest_one_timer.monetary_score) == (
        4, 1, 1)
    assert newest_one_timer.segment == "promising"  # R 4, FM round((1 + 1) / 2) = 1


# The standard grid, R down (5 to 1) and FM = round((F + M) / 2) across (1 to 5).
GRID = {
    5: ("new_customers", "potential_loyalists", "potential_loyalists", "champions", "champions"),
    4: ("promising", "potential_loyalists", "potential_loyalists", "loyal_customers", "champions"),
    3: ("about_to_sleep", "about_to_sleep", "need_attention", "loyal_customers", "loyal_customers"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose_them"),
    1: ("lost", "hibernating", "at_risk", "at_risk", "cannot_lose_them"),
}


def test_every_cell_of_the_grid_maps_to_its_named_segment(db):
    from django.db import connection

    from cdp.models import RfmSegment
    from cdp.services.rfm import SEGMENT_CASE

    cells = [(r, fm) for r in range(1, 6) for fm in range(1, 6)]
    values = " UNION ALL ".join(["SELECT %s AS r, %s AS fm"] * len(cells))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT r, fm, {SEGMENT_CASE} FROM ({values}) AS cells",
                       [n for cell in cells for n in cell])
        named = {(r, fm): segment for r, fm, segment in cursor.fetchall()}
    assert named == {(r, fm): GRID[r][fm - 1] for r, fm in cells}
    assert set(named.values()) == set(RfmSegment.values)  # all eleven named segments are reachable


def test_endpoint_queues_recompute_and_profile_shows_rfm(api_client, tenant, django_capture_on_commit_callbacks):
    profile = buyer(tenant, purchases=2, days_ago=1, total=50)
    with django_capture_on_commit_callbacks(execute=True) as queued:  # queued after the request's commit
        response = api_client.post("/api/v1/cdp/rfm/recompute")
    assert len(queued) == 1
    assert response.status_code == 202
    body = api_client.get(f"/api/v1/cdp/profiles/{profile.pk}").json()
    assert body["rfm"] == {"recency_score": 1, "frequency_score": 1, "monetary_score": 1, "segment": "lost"}
    stats = api_client.get("/api/v1/cdp/profiles/statistics").json()
    assert stats["by_rfm_segment"]["lost"] == 1 and stats["without_rfm"] == 0


def test_viewer_cannot_trigger(user, make_client, tenant):
    from tests.accounts.factories import UserFactory

    viewer = UserFactory(tenant=tenant, role="viewer")
    assert_error(make_client(viewer).post("/api/v1/cdp/rfm/recompute"), 403)


def test_nightly_job_is_scheduled_and_covers_every_tenant(db, settings):
    from tests.accounts.factories import TenantFactory

    assert settings.CELERY_BEAT_SCHEDULE["cdp.rfm_recompute_all"]["task"] == "cdp.tasks.rfm_recompute_all"
    tenants = [TenantFactory(), TenantFactory()]
    people = [buyer(t, purchases=1, days_ago=1, total=10) for t in tenants]
    rfm_recompute_all()
    assert all(ProfileRfm.objects.unscoped().get(pk=p.pk).segment for p in people)
