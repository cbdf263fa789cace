"""CDP writes. The interface other apps use (keyword-only, tenant first):

- `profile_upsert(*, tenant, identifiers, traits=None, source="api", lifecycle_stage=None) -> (Profile, created)`
- `event_track(*, tenant, event_type, properties=None, timestamp=None, profile_id=None, identifiers=None,
  message_id=None, source="api") -> ItemResult`
- `events_ingest(*, tenant, events: list[dict], source="api") -> list[ItemResult]` (batch, per-item results)
- `segment_refresh(*, tenant, segment)`, `rfm_recompute(*, tenant)`
"""
from .audiences import (
                        audience_create,
                        audience_runs_reap,
                        audience_sync_request,
                        audience_sync_run,
                        audience_update,
                        audiences_due,
)
from .events import ItemResult, event_track, event_track_raw, events_ingest
from .exports import export_build, export_request
from .profiles import identity_rules_get, identity_rules_update, profile_unmerge, profile_update, profile_upsert
from .resolution import profile_resolve, profiles_merge
from .rfm import rfm_recompute
from .segments import segment_create, segment_delete, segment_refresh, segment_update

__all__ = [
    "ItemResult", "audience_create", "audience_runs_reap", "audience_sync_request", "audience_sync_run",
    "audience_update", "audiences_due", "event_track", "event_track_raw", "events_ingest", "export_build",
    "export_request", "identity_rules_get", "identity_rules_update", "profile_resolve", "profile_unmerge",
    "profile_update", "profile_upsert", "profiles_merge", "rfm_recompute", "segment_create", "segment_delete",
    "segment_refresh", "segment_update",
]
