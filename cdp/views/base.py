"""What every CDP endpoint shares: the plan feature and the API-key scope (read:cdp / write:cdp)."""
from __future__ import annotations

UUID_PATH = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class CdpEndpoint:
    required_feature = "cdp"
    scope_resource = "cdp"
    lookup_value_regex = UUID_PATH  # a malformed id is a plain 404, like a missing one


class AudienceSyncEndpoint(CdpEndpoint):
    required_feature = "audience_sync"
