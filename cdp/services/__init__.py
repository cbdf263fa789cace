"""CDP writes. The interface other apps use (keyword-only, tenant first):

- `profile_upsert(*, tenant, identifiers, traits=None, source="api", lifecycle_stage=None) -> (Profile, created)`
- `event_track(*, tenant, event_type, properties=None, timestamp=None, profile_id=None, identifiers=None,
  message_id=None, source="api") -> ItemResult`
- `events_ingest(*, tenant, events: list[dict], source="api") -> list[ItemResult]` (batch, per-item results)
- `items_ingest(*, tenant, items: list[IngestItem], source="api") -> {index: ItemResult}`: the one ingestion path
  (normalised items: an event, an upsert or both) every source above goes through
- `segment_refresh(*, tenant, segment)`, `rfm_recompute(*, tenant)`
- `privacy_request_create(*, tenant, type, profile_id=None, identifiers=None, reason="", requested_by=None, via="user")`
  and `privacy_request_process(*, tenant, request_id)` (the task), `events_retention_apply(*, tenant)`
"""
from .audiences import (
                        audience_create,
                        audience_runs_reap,
                        audience_sync_request,
                        audience_sync_run,
                        audience_update,
                        audiences_due,
)
from .events import event_track, event_track_raw, events_ingest
from .exports import export_build, export_request
from .ingest import IngestItem, ItemResult, items_ingest
from .privacy import (
                      events_retention_apply,
                      privacy_download_open,
                      privacy_download_token,
                      privacy_exports_expire,
                      privacy_request_create,
                      privacy_request_process,
                      privacy_requests_resume,
                      privacy_settings_get,
                      privacy_settings_update,
)
from .profiles import (
                       identity_rules_get,
                       identity_rules_update,
                       profile_consent_set,
                       profile_unmerge,
                       profile_update,
                       profile_upsert,
)
from .rfm import rfm_recompute
from .segments import segment_create, segment_delete, segment_refresh, segment_update

__all__ = [
    "IngestItem", "ItemResult", "audience_create", "audience_runs_reap", "audience_sync_request", "audience_sync_run",
    "audience_update", "audiences_due", "event_track", "events_retention_apply", "privacy_download_open",
    "privacy_download_token", "privacy_exports_expire", "privacy_request_create", "privacy_request_process",
    "privacy_requests_resume", "privacy_settings_get", "privacy_settings_update", "event_track_raw", "events_ingest", "export_build",
    "export_request", "identity_rules_get", "identity_rules_update", "items_ingest", "profile_consent_set", "profile_unmerge",
    "profile_update", "profile_upsert", "rfm_recompute", "segment_create", "segment_delete",
    "segment_refresh", "segment_update",
]
