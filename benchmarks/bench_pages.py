"""Three read pages on the demo tenant (`make seed`'s, seeded here when missing and kept): AI insights, event
statistics (30 days) and the superadmin overview (365 days by month), each through the API end to end.

Each stands beside its own SQL replayed by hand in the same run: the statements the request sent (captured once),
executed on a raw cursor with nothing else — so the ratio is what the ORM, the statistics in Python and the
serialisation add to the database's share. A throwaway superuser (deleted afterwards) reads the overview.
"""
from __future__ import annotations

import io
import uuid

from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from accounts.models import Tenant, User
from accounts.services import tokens_for_user
from benchmarks.harness import Row, p50_ms

DEMO_SLUG = "demo"
TARGET_MS = 300
PAGES = (
    ("AI insights (every type)", "/api/v1/analytics/ai/insights", {}, "owner"),
    ("event statistics, 30 days", "/api/v1/cdp/events/statistics", {"period": "30d"}, "owner"),
    ("superadmin overview, 365 days by month", "/api/v1/superadmin/analytics/overview",
     {"period": "365d", "interval": "month"}, "staff"),
)


def _replay(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
            if cursor.description:
                cursor.fetchall()


def run() -> list[Row]:
    tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
    if tenant is None:
        call_command("seed_demo", stdout=io.StringIO())
        tenant = Tenant.objects.get(slug=DEMO_SLUG)
    owner = User.objects.filter(tenant=tenant, role="owner").order_by("created_at").first()
    staff = User.objects.create_superuser(email=f"bench-pages-{uuid.uuid4().hex[:8]}@bench.example", password=None)
    try:
        client = Client()
        auth = {who: {"HTTP_AUTHORIZATION": f"Bearer {tokens_for_user(user=user)['access_token']}"}
                for who, user in (("owner", owner), ("staff", staff))}
        rows = []
        with override_settings(RATELIMIT_ENABLED=False):
            for label, url, params, who in PAGES:
                def call(url=url, params=params, who=who):
                    response = client.get(url, params, **auth[who])
                    assert response.status_code == 200, response.content[:300]

                call()
                with CaptureQueriesContext(connection) as captured:
                    call()
                # The page's own reads: not the authentication, tenant and limiter lookups every request makes.
                statements = [q["sql"] for q in captured.captured_queries
                              if not any(t in q["sql"] for t in ('"accounts_user"', '"accounts_apikey"',
                                                                 "SAVEPOINT", '"accounts_tenant"."settings"'))]
                value = p50_ms(call, repeat=15, warmup=2)
                reference = p50_ms(lambda statements=statements: _replay(statements), repeat=15, warmup=2)
                rows.append(Row(f"{label}, demo tenant, via the API ({len(captured.captured_queries)} queries)",
                                value, "ms", reference=f"its {len(statements)} SQL statements replayed by hand",
                                reference_value=reference, target=f"≤ {TARGET_MS} ms", met=value <= TARGET_MS))
        return rows
    finally:
        staff.delete()
