"""Writes of the campaigns app (keyword-only, tenant first). Other apps use these, never the models directly:

- `campaign_update(*, tenant, campaign, status=None, budget_amount=None, actor, reason="") -> Campaign`
- `campaign_delete(*, tenant, campaign, actor, reason="") -> Campaign`
- `campaign_create(*, tenant, ad_account, name, objective, budget_type, budget_amount, targeting,
   start_date=None, end_date=None, status="paused", actor, reason="") -> Campaign`
- `ad_account_upsert(*, tenant, platform, external_id, name, currency="USD", timezone_name="UTC", client=None,
   connection_id=None) -> (AdAccount, created)`
- `ad_account_sync(*, tenant, ad_account, start=None, end=None, trigger="system") -> AdAccountSyncRun`
- `ad_accounts_sync_queue(*, tenant, ad_account=None, trigger="manual") -> {"queued": [...], "skipped": [...]}`

`actor` names who acted: "user:<uuid>", "api_key:<uuid>", "autopilot", "rule:<uuid>", "system".
"""
from .campaigns import (
    budget_clean,
    campaign_create,
    campaign_delete,
    campaign_update,
    targeting_clean,
)
from .sync import ad_account_sync, ad_account_upsert, ad_accounts_sync_queue, sync_window

__all__ = [
    "ad_account_sync", "ad_account_upsert", "ad_accounts_sync_queue", "budget_clean", "campaign_create",
    "campaign_delete", "campaign_update", "sync_window", "targeting_clean",
]
