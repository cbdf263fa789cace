"""Ingestion with the attribution-journey mark vs the same code with the mark (and its queueing) skipped: 1,000-event
batches of 3,000 known profiles (20 % purchases), 8 each way interleaved in one process; p50 of each, their ratio and
the load average before and after. `DATABASE_URL=… python -m benchmarks.journeys_mark_ab` (PostgreSQL; a throwaway
tenant, deleted afterwards). Figures: docs/benchmarks.md."""
from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import time
import uuid


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stratum.settings")
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Tenant
    from cdp.models import Event, Journey, JourneyMark
    from cdp.services import events_ingest
    from cdp.services import ingest as ingest_module
    from cdp.services.journeys import journeys_catch_up
    from stratum.api.tenancy import tenant_scope

    print("load before", os.getloadavg(), flush=True)
    tenant = Tenant.objects.create(name="ingest ab", slug=f"ingest-ab-{uuid.uuid4().hex[:6]}", plan="enterprise",
                                   settings={"timezone": "UTC", "currency": "USD"})
    rng = random.Random(1)

    def batch(tag: str) -> list[dict]:
        now = timezone.now()
        out = []
        for n in range(1000):
            buy = rng.random() < 0.2
            out.append({"identifiers": {"external_id": f"crm-{rng.randrange(3000)}"},
                        "event_type": "purchase" if buy else "ad_click",
                        "timestamp": (now - dt.timedelta(minutes=rng.randrange(1, 40 * 1440))).isoformat(),
                        "properties": {"amount": 10} if buy else {"channel": rng.choice("abcd"), "campaign": "C"},
                        "message_id": f"{tag}-{n}"})
        return out

    real = ingest_module.journeys_mark, ingest_module.journeys_catch_up_queue
    times: dict[str, list[float]] = {"mark": [], "none": []}
    try:
        with tenant_scope(tenant):
            for i in range(3):
                events_ingest(tenant=tenant, events=batch(f"warm{i}"), source="ab")
            for i in range(16):
                mode = "mark" if i % 2 == 0 else "none"
                if mode == "none":
                    ingest_module.journeys_mark = ingest_module.journeys_catch_up_queue = lambda **kw: None
                else:
                    ingest_module.journeys_mark, ingest_module.journeys_catch_up_queue = real
                events = batch(f"b{i}")
                start = time.perf_counter()
                events_ingest(tenant=tenant, events=events, source="ab")
                times[mode].append((time.perf_counter() - start) * 1000)
            ingest_module.journeys_mark, ingest_module.journeys_catch_up_queue = real
            start = time.perf_counter()
            folded = journeys_catch_up(tenant=tenant)
            print(f"catch-up of {folded} profiles after the marked batches: {(time.perf_counter() - start) * 1000:.0f} ms")
        for mode, samples in times.items():
            print(mode, f"p50 {statistics.median(samples):.0f} ms per 1,000 events", [round(x) for x in samples])
        print("ratio mark/none", round(statistics.median(times["mark"]) / statistics.median(times["none"]), 3))
    finally:
        ingest_module.journeys_mark, ingest_module.journeys_catch_up_queue = real
        with connection.cursor() as cursor:
            for model in (Journey, JourneyMark, Event):
                cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE tenant_id = %s", [tenant.pk])
        tenant.delete()
    print("load after", os.getloadavg())


if __name__ == "__main__":
    main()
