"""CDP writes. The interface other apps use (keyword-only, tenant first):

- `profile_upsert(*, tenant, identifiers, traits=None, source="api", lifecycle_stage=None) -> (Profile, created)`
- `event_track(*, tenant, event_type, properties=None, timestamp=None, profile_id=None, identifiers=None,
  message_id=None, source="api") -> ItemResult`
- `events_ingest(*, tenant, events: list[dict], source="api") -> list[ItemResult]` (batch, per-item results)
- `items_ingest(*, tenant, items: list[IngestItem], source="api") -> {index: ItemResult}`: the one ingestion path
  (normalised items: an event, an upsert or both) every source above goes through
- `segment_ingest(*, tenant, messages, call_type=None, batch_sent_at=None, batch_context=None, received_at=None)`:
  Segment's tracking calls (the /v1/* API) mapped onto `items_ingest` (`segment.py`)
- `source_create(*, tenant, name, kind, allowed_origins=None, created_by=None) -> (Source, write_key)`,
  `source_rotate_key`, `source_delete`, `source_authenticate(*, write_key)` (`sources.py`)
- `segment_refresh(*, tenant, segment)`, `rfm_recompute(*, tenant)`, `rfm_recompute_queue(*, tenant)`
- `privacy_request_create(*, tenant, type, profile_id=None, identifiers=None, reason="", requested_by=None, via="user")`
  and `privacy_request_process(*, tenant, request_id)` (the task), `events_retention_apply(*, tenant)`
- `event_partitions_maintain(*, now=None)`: PostgreSQL's monthly event partitions created ahead, dropped past every
  tenant's retention (`partitions.py`)
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
from .exports import export_build, export_request, exports_expire
from .ingest import IngestItem, ItemResult, items_ingest, message_claims_prune
from .journeys import (
    journeys_catch_up,
    journeys_catch_up_queue,
    journeys_catch_up_queued,
    journeys_mark,
    journeys_mark_all,
    journeys_marked_tenants,
    journeys_read_prepare,
    journeys_rebuild,
)
from .partitions import event_partitions_maintain
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
from .rfm import rfm_recompute, rfm_recompute_queue
from .segment import segment_ingest
from .segments import segment_create, segment_delete, segment_refresh, segment_update
from .sources import source_authenticate, source_create, source_delete, source_rotate_key

__all__ = [
    "IngestItem", "ItemResult", "audience_create", "audience_runs_reap", "audience_sync_request", "audience_sync_run",
    "audience_update", "audiences_due", "event_partitions_maintain", "message_claims_prune", "event_track", "event_track_raw",
    "events_ingest", "events_retention_apply", "journeys_catch_up", "journeys_catch_up_queued",
    "journeys_catch_up_queue", "journeys_mark", "journeys_mark_all", "journeys_marked_tenants", "journeys_read_prepare",
    "journeys_rebuild",
    "export_build", "export_request", "exports_expire", "identity_rules_get", "identity_rules_update", "items_ingest",
    "privacy_download_open", "privacy_download_token", "privacy_exports_expire", "privacy_request_create",
    "privacy_request_process", "privacy_requests_resume", "privacy_settings_get", "privacy_settings_update",
    "profile_consent_set", "profile_unmerge",
    "profile_update", "profile_upsert", "rfm_recompute", "rfm_recompute_queue", "segment_create", "segment_delete",
    "segment_ingest", "segment_refresh", "segment_update", "source_authenticate", "source_create", "source_delete",
    "source_rotate_key",
]
