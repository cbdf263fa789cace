"""CDP reads. The interface other apps use (keyword-only, tenant first):

- `profile_find_by_email(*, tenant, email) -> Profile | None`
- `profile_ids_by_email(*, tenant, emails) -> dict[str, uuid]`
- `purchase_counts_by_email(*, tenant, emails) -> dict[str, int]`
- `profile_get(*, tenant, profile_id) -> Profile` (a merged-away id resolves to its winner; 404 otherwise)
- `profile_find(*, tenant, profile_id) -> Profile | None` (the same, None instead of 404: list filters)
- `profile_live_id(*, tenant, profile_id) -> uuid | None` (only the live id, one read: filters by profile)
- `segment_members(*, tenant, segment, change=None)` / `segment_member_rows(*, tenant, segment_id, change=None)`
"""
from .events import event_statistics, events_timeline
from .privacy import consent_of, privacy_requests, subject_export
from .profiles import (
                       IN_LIST_CHUNK,
                       identity_links,
                       live_profiles,
                       profile_find,
                       profile_find_by_email,
                       profile_get,
                       profile_ids_by_email,
                       profile_live_id,
                       profile_statistics,
                       profiles_list,
                       profiles_search,
                       purchase_counts_by_email,
)
from .segments import segment_member_rows, segment_members, segment_preview

__all__ = [
    "IN_LIST_CHUNK", "consent_of", "event_statistics", "events_timeline", "identity_links", "live_profiles",
    "privacy_requests", "profile_find", "profile_find_by_email", "profile_get", "profile_ids_by_email",
    "profile_live_id", "profile_statistics", "profiles_list", "profiles_search", "purchase_counts_by_email", "subject_export",
    "segment_member_rows", "segment_members", "segment_preview",
]
