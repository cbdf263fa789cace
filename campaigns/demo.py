"""seed_demo: three ad accounts on the demo platform with 90 days of history, synced through the same sync
service as real accounts (idempotent: a second run re-syncs the same deterministic numbers)."""
from __future__ import annotations

import datetime as dt

from stratum.api.params import local_today

from .connectors.demo import DEMO_ACCOUNTS
from .services import ad_account_sync, ad_account_upsert

HISTORY_DAYS = 90


def seed(*, tenant, stdout) -> None:
    for demo in DEMO_ACCOUNTS:
        account, created = ad_account_upsert(tenant=tenant, platform="demo", external_id=demo.external_id,
                                             name=demo.name, currency=demo.currency, timezone_name=demo.timezone)
        end = local_today(account.timezone)
        run = ad_account_sync(tenant=tenant, ad_account=account, start=end - dt.timedelta(days=HISTORY_DAYS - 1),
                              end=end, trigger="seed")
        stdout.write(f"  {'added' if created else 'refreshed'} {account.name}: {run.status}, "
                     f"{run.campaigns_upserted} campaigns, {run.ads_upserted} ads, {run.rows_upserted} daily rows"
                     + (f" ({run.error_code}: {run.error_message})" if run.status != "ok" else ""))
