"""Customer data: profiles and their identities, the identity-link log, events, segments, audiences, exports.

A profile that lost a merge keeps its row (`merged_into` points at the winner) so its id still resolves;
everything it owned (identities, events) moves to the winner. `Event.origin_profile_id` (never changes) and
`Event.identity_id` (the identity that routed it) are what let a wrong merge be split back. `total_orders` /
`ltv` are columns maintained by ingestion (they appear under `traits` in responses and segment conditions).
RFM scores live in their own narrow table (`ProfileRfm`), replaced per tenant by each recompute: rewriting a
million wide profile rows (and all their indexes) every night would cost minutes, inserting narrow rows costs
seconds.
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models

from stratum.api.choices import Choices
from stratum.api.crypto import EncryptedTextField
from stratum.api.tenancy import TenantOwned


class LifecycleStage(Choices):
    ANONYMOUS = "anonymous"
    SUBSCRIBER = "subscriber"
    LEAD = "lead"
    CUSTOMER = "customer"
    CHURNED = "churned"


class RfmSegment(Choices):
    CHAMPIONS = "champions"
    LOYAL_CUSTOMERS = "loyal_customers"
    POTENTIAL_LOYALISTS = "potential_loyalists"
    NEW_CUSTOMERS = "new_customers"
    PROMISING = "promising"
    NEED_ATTENTION = "need_attention"
    ABOUT_TO_SLEEP = "about_to_sleep"
    AT_RISK = "at_risk"
    CANNOT_LOSE_THEM = "cannot_lose_them"
    HIBERNATING = "hibernating"
    LOST = "lost"


class SourceKind(Choices):
    SERVER = "server"
    BROWSER = "browser"
    MOBILE = "mobile"


class SyncFrequency(Choices):
    MANUAL = "manual"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"


CORE_IDENTIFIER_TYPES = ("email", "phone", "external_id", "anonymous_id")
PURCHASE_EVENT = "purchase"


class ConsentPurpose(Choices):
    ADS = "ads"
    EMAIL = "email"
    ANALYTICS = "analytics"


# A profile's consent per purpose is the trait `consent_<purpose>`: true (given), false (withdrawn) or absent.
CONSENT_TRAITS = {purpose: f"consent_{purpose}" for purpose in ConsentPurpose.values}
# An event of this type sets consent from its properties ({"ads": false, ...}).
CONSENT_EVENT = "consent_updated"


class Profile(TenantOwned):
    external_id = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    lifecycle_stage = models.CharField(max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.LEAD)
    traits = models.JSONField(default=dict, blank=True)
    total_orders = models.IntegerField(default=0)
    ltv = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    last_purchase_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    merged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["tenant", "email"], name="cdp_profile_email"),
            models.Index(fields=["tenant", "external_id"], name="cdp_profile_external"),
            models.Index(fields=["tenant", "lifecycle_stage"], name="cdp_profile_stage"),
            models.Index(fields=["tenant", "updated_at"], name="cdp_profile_updated"),
            # The live profiles (not merged away): the list's page (newest first) reads this index in order …
            models.Index(fields=["tenant", "-updated_at", "id"], condition=models.Q(merged_into__isnull=True),
                         name="cdp_profile_live_updated"),
            # … and its count is an index-only scan of this one: one key per tenant, deduplicated by PostgreSQL
            # into a few pages (11 for 10,000 profiles, against 137 for the one above).
            models.Index(fields=["tenant"], condition=models.Q(merged_into__isnull=True), name="cdp_profile_live"),
        ]

    def __str__(self) -> str:
        return self.email or self.external_id or str(self.pk)

    @property
    def rfm_scores(self) -> ProfileRfm | None:
        """The RFM row, or None for a profile without scored purchases (load with select_related("rfm"))."""
        try:
            return self.rfm
        except ObjectDoesNotExist:
            return None


class ProfileRfm(TenantOwned):
    """A purchasing profile's RFM quintile scores (1-5, 5 best) and named segment."""

    id = None
    profile = models.OneToOneField(Profile, on_delete=models.CASCADE, primary_key=True, related_name="rfm")
    recency_score = models.SmallIntegerField()
    frequency_score = models.SmallIntegerField()
    monetary_score = models.SmallIntegerField()
    segment = models.CharField(max_length=32, choices=RfmSegment.choices)
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["tenant", "segment"], name="cdp_rfm_segment")]


class Identity(TenantOwned):
    """One normalized identifier of a profile; a (type, value) pair names at most one profile per tenant."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="identities")
    type = models.CharField(max_length=32)
    value = models.CharField(max_length=255)
    source = models.CharField(max_length=32, default="api")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "type", "value"], name="cdp_identity_unique")]
        indexes = [models.Index(fields=["profile", "type"], name="cdp_identity_profile")]

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


class ProfileMerge(TenantOwned):
    """A merge of `loser` into `winner`, with what is needed to split it back (unmerge)."""

    winner = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="merges_won")
    loser = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="merges_lost")
    reason = models.CharField(max_length=500)
    identifier_type = models.CharField(max_length=32, blank=True)
    identifier_value = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=32, default="api")
    # Before the merge: the loser's fields, the winner's trait keys, identities moved and profiles re-pointed.
    snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.loser_id} -> {self.winner_id}"


class IdentityLink(TenantOwned):
    """Append-only log of why identifiers and profiles were joined (or were not)."""

    class Action(Choices):
        ATTACHED = "attached"
        MERGED = "merged"
        UNMERGED = "unmerged"
        BLOCKED = "blocked"
        CAPPED = "capped"

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="identity_links")
    action = models.CharField(max_length=16, choices=Action.choices)
    identifier_type = models.CharField(max_length=32, blank=True)
    identifier_value = models.CharField(max_length=255, blank=True)
    related_profile = models.ForeignKey(Profile, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    merge = models.ForeignKey(ProfileMerge, on_delete=models.SET_NULL, null=True, blank=True, related_name="links")
    reason = models.CharField(max_length=500)
    source = models.CharField(max_length=32, default="api")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["profile", "created_at"], name="cdp_link_profile")]


class IdentityRules(TenantOwned):
    """Per-tenant resolution rules: identifier values that never link profiles, and per-type caps."""

    blocklist = models.JSONField(default=list, blank=True)  # [{"type": "email", "value": "test@example.com"}]
    caps = models.JSONField(default=dict, blank=True)  # {"external_id": 1, "email": 5, ...}
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="cdp_identity_rules_one")]


class Event(TenantOwned):
    # (profile, timestamp) below serves profile lookups: no separate FK index to maintain on every insert.
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="events", db_index=False)
    origin_profile_id = models.UUIDField(help_text="The profile the event was first attributed to (unmerge).")
    # The identity whose identifier routed the event to its profile (none when a profile_id named it): an unmerge
    # gives the loser back the events that came through its identities, also those that arrived after the merge.
    identity_id = models.UUIDField(null=True, blank=True, help_text="The identity that routed the event (unmerge).")
    event_type = models.CharField(max_length=64)
    timestamp = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    message_id = models.CharField(max_length=128, null=True, blank=True)
    source = models.CharField(max_length=32, default="api")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-timestamp"]
        constraints = [models.UniqueConstraint(fields=["tenant", "message_id"], name="cdp_event_message_unique")]
        indexes = [
            models.Index(fields=["tenant", "event_type", "timestamp"], name="cdp_event_type_time"),
            models.Index(fields=["profile", "timestamp"], name="cdp_event_profile_time"),
            models.Index(fields=["tenant", "timestamp"], name="cdp_event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.timestamp:%Y-%m-%d %H:%M}"


class EventIngestDay(TenantOwned):
    """How many events ingestion stored for a tenant on a (UTC) day of `received_at`: one row per tenant and day,
    added to once per batch. The superadmin overview's "events ingested" reads these instead of counting the event
    table (a year of a busy platform is millions of rows). Counts ingestion: retention or erasure deleting events
    later does not take them back.

    A day is split over `INGEST_DAY_SHARDS` rows (`shard`), summed on read: one row per tenant and day would be a
    hot row that every concurrent batch of the tenant updates and holds locked until its commit, serialising the
    tenant's ingestion."""

    day = models.DateField()
    shard = models.PositiveSmallIntegerField(default=0)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "day", "shard"], name="cdp_ingest_day_shard_unique")]
        indexes = [models.Index(fields=["day"], name="cdp_ingest_day_day")]


class EventMessageClaim(TenantOwned):
    """Serialises batches that carry the same message_id (PostgreSQL): events are partitioned by time, so their unique
    key holds the timestamp and cannot refuse a repeat with another timestamp. A batch upserts a claim row per message
    id (sorted) before it looks for stored events; the row lock makes a concurrent batch with the same id wait for
    its commit and then find the stored event. A row lock costs no entry in PostgreSQL's shared lock table (an
    advisory lock per message id did: 1,000 per batch). The events stay the truth: claims only order the writers, so
    the hourly task prunes old ones."""

    message_id = models.CharField(max_length=128)
    claimed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "message_id"], name="cdp_message_claim_unique")]
        indexes = [models.Index(fields=["claimed_at"], name="cdp_message_claim_at")]


class Journey(TenantOwned):
    """A profile's attribution journey, kept from the events by the per-tenant catch-up (`cdp/services/journeys.py`;
    ingestion marks, `JourneyMark`) so attribution reads journeys instead of rebuilding them from raw events on every
    request: the touchpoints after the profile's previous
    purchase up to (and at the moment of) its next one, or its open journey (no purchase yet, `converted_at` null).

    `path` is the touchpoints' `channel<US>campaign` keys joined by <RS> in time order (null: a direct purchase);
    `touch_times` their epoch seconds (an array literal, `::float8[]` in SQL), for a request whose lookback or period cuts a journey short. PostgreSQL only
    (elsewhere attribution reads the raw events)."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+", db_index=False)
    converted_at = models.DateTimeField(null=True, blank=True)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    path = models.TextField(null=True, blank=True)
    touch_count = models.IntegerField(default=0)
    first_touch = models.FloatField(null=True, blank=True, help_text="Epoch seconds of the first touchpoint.")
    last_touch = models.FloatField(null=True, blank=True, help_text="Epoch seconds of the last touchpoint.")
    touch_times = models.TextField(default="{}", blank=True,
                                   help_text="Epoch seconds of the touchpoints, a PostgreSQL float8[] literal.")

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "converted_at"], name="cdp_journey_converted"),
            # profile first: the FK's cascade on a profile's deletion looks journeys up by profile alone
            models.Index(fields=["profile", "tenant", "converted_at"], name="cdp_journey_profile"),
        ]


class JourneyMark(TenantOwned):
    """A profile whose events changed since the journeys were last caught up (`journeys_catch_up` folds and deletes
    these): written by ingestion (one statement per batch), merges, unmerges, erasure and retention, in their own
    transaction, so a mark is visible exactly when its events are. `since`: the earliest event time that changed
    (null: all of the profile's events). A null profile: the whole tenant (a backfill, a bulk load). No foreign key:
    the mark of an erased profile just rebuilds it to nothing."""

    profile_id = models.UUIDField(null=True, blank=True)
    since = models.DateTimeField(null=True, blank=True)


class Segment(TenantOwned):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    conditions = models.JSONField(default=dict)
    member_count = models.IntegerField(default=0)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_added_count = models.IntegerField(default=0)
    last_removed_count = models.IntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="cdp_segment_unique_name")]

    def __str__(self) -> str:
        return self.name


class SegmentMembership(TenantOwned):
    """Materialized membership. A row whose `removed_at` is set left the segment at that refresh."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="segment_memberships")
    added_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "profile"], name="cdp_membership_unique")]
        indexes = [models.Index(fields=["segment", "removed_at"], name="cdp_membership_active")]


class Audience(TenantOwned):
    class Status(Choices):
        IDLE = "idle"
        SYNCING = "syncing"
        FAILED = "failed"

    name = models.CharField(max_length=200)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="audiences")
    platform = models.CharField(max_length=16)
    ad_account = models.ForeignKey("campaigns.AdAccount", on_delete=models.PROTECT, related_name="cdp_audiences")
    platform_config = models.JSONField(default=dict, blank=True)
    sync_frequency = models.CharField(max_length=16, choices=SyncFrequency.choices, default=SyncFrequency.DAILY)
    external_audience_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, default=Status.IDLE, choices=Status.choices)
    member_count = models.IntegerField(default=0, help_text="Profiles on the platform after the last sync.")
    match_rate = models.FloatField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AudienceMember(TenantOwned):
    """A profile the platform has in this audience (as of the last successful upload that sent it)."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="members")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    synced_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["audience", "profile"], name="cdp_audience_member_unique")]


class AudienceSyncRun(TenantOwned):
    class Status(Choices):
        RUNNING = "running"
        SUCCESS = "success"
        FAILED = "failed"

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(max_length=16, default="manual")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    # Set by the worker as it starts and after each uploaded batch; a running run silent for RUN_LEASE lost it.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    added = models.IntegerField(default=0)
    removed = models.IntegerField(default=0)
    matched = models.IntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["audience", "started_at"], name="cdp_sync_run_audience")]


class AudienceExport(TenantOwned):
    class Status(Choices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"
        EXPIRED = "expired"  # past EXPORT_RETENTION_DAYS: the file is deleted

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="exports")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    include_traits = models.BooleanField(default=False)
    include_events = models.BooleanField(default=False)
    row_count = models.IntegerField(null=True, blank=True)
    file = models.CharField(max_length=500, blank=True, help_text="Name in the default storage.")
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class PrivacySettings(TenantOwned):
    """A tenant's privacy settings and the secret its suppression list is keyed with (created on first use)."""

    require_ads_consent = models.BooleanField(
        default=False, help_text="Audience sync uploads only profiles whose `ads` consent is given.")
    event_retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Raw events older than this are deleted; null keeps them as long as the plan "
                                         "allows (max_event_retention_days).")
    suppression_secret = EncryptedTextField(blank=True, help_text="HMAC key of the suppression list (Fernet).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="cdp_privacy_settings_one")]


class SuppressedIdentifier(TenantOwned):
    """An identifier that ingestion drops: only its keyed hash, HMAC-SHA256(tenant secret, "type:value")."""

    digest = models.CharField(max_length=64)
    request = models.ForeignKey("PrivacyRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "digest"], name="cdp_suppressed_unique")]


class AudienceRemoval(TenantOwned):
    """An erased member of a synced audience, kept only as the hashes the platform received, until the next sync
    has removed them there."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="removals")
    email_sha256 = models.CharField(max_length=64, blank=True)
    phone_sha256 = models.CharField(max_length=64, blank=True)
    phone_digits_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class PrivacyRequest(TenantOwned):
    """A data-subject request. The subject's identifiers are held (encrypted) only while the request is open; once
    done, the record keeps what was done and counted, never who it was about."""

    class Type(Choices):
        ERASE = "erase"
        EXPORT = "export"
        SUPPRESS = "suppress"
        UNSUPPRESS = "unsuppress"

    class Status(Choices):
        PENDING = "pending"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"

    type = models.CharField(max_length=16, choices=Type.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    profile_id = models.UUIDField(null=True, blank=True, help_text="Cleared once an erasure is done.")
    subject = EncryptedTextField(blank=True, help_text="The identifiers (JSON, Fernet) until the request is done.")
    identifier_types = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    file = models.CharField(max_length=500, blank=True, help_text="The export (default storage) while it is kept.")
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    requested_via = models.CharField(max_length=16, default="user")  # user | api_key
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="cdp_privacy_request_time"),
                   models.Index(fields=["status", "heartbeat_at"], name="cdp_privacy_request_open")]
class Source(TenantOwned):
    """Where tracking SDKs send from (Segment's HTTP Tracking API, /v1/*). Its write key — shown once, at creation
    and rotation; only the SHA-256 is kept — authenticates ingestion on /v1/* and nothing else. A deleted source
    keeps its row (`revoked_at`): its key stops working and it leaves the list."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    allowed_origins = models.JSONField(default=list, blank=True, help_text="Browser sources: origins allowed (CORS).")
    key_prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    key_rotated_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "revoked_at"], name="cdp_source_live")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"
