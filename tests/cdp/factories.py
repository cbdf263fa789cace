import datetime
import hashlib
import uuid

import factory
from django.utils import timezone

from cdp.models import (
    Audience,
    AudienceExport,
    AudienceMember,
    AudienceRemoval,
    AudienceSyncRun,
    Event,
    EventIngestDay,
    EventMessageClaim,
    Identity,
    IdentityLink,
    IdentityRules,
    Journey,
    JourneyMark,
    PrivacyRequest,
    PrivacySettings,
    Profile,
    ProfileMerge,
    ProfileRfm,
    Segment,
    SegmentMembership,
    Source,
    SuppressedIdentifier,
)
from tests.campaigns.factories import AdAccountFactory
from tests.factories import TenantOwnedFactory


class ProfileFactory(TenantOwnedFactory):
    class Meta:
        model = Profile

    email = factory.Sequence(lambda n: f"person{n}@shop.example")
    lifecycle_stage = "lead"
    traits = factory.LazyFunction(lambda: {"first_name": "Ada"})


class ProfileRfmFactory(TenantOwnedFactory):
    class Meta:
        model = ProfileRfm

    profile = factory.SubFactory(ProfileFactory, tenant=factory.SelfAttribute("..tenant"))
    recency_score = 5
    frequency_score = 4
    monetary_score = 5
    segment = "champions"
    computed_at = factory.LazyFunction(timezone.now)


class IdentityFactory(TenantOwnedFactory):
    class Meta:
        model = Identity

    profile = factory.SubFactory(ProfileFactory, tenant=factory.SelfAttribute("..tenant"))
    type = "email"
    value = factory.SelfAttribute("profile.email")


class EventFactory(TenantOwnedFactory):
    class Meta:
        model = Event

    profile = factory.SubFactory(ProfileFactory, tenant=factory.SelfAttribute("..tenant"))
    origin_profile_id = factory.SelfAttribute("profile.pk")
    event_type = "page_view"
    timestamp = factory.LazyFunction(timezone.now)
    received_at = factory.LazyFunction(timezone.now)
    properties = factory.LazyFunction(lambda: {"path": "/"})


class ProfileMergeFactory(TenantOwnedFactory):
    class Meta:
        model = ProfileMerge

    winner = factory.SubFactory(ProfileFactory, tenant=factory.SelfAttribute("..tenant"))
    loser = factory.SubFactory(ProfileFactory, tenant=factory.SelfAttribute("..tenant"))
    reason = "email named both profiles"


class IdentityLinkFactory(TenantOwnedFactory):
    class Meta:
        model = IdentityLink

    profile = factory.SubFactory(ProfileFactory, tenant=factory.SelfAttribute("..tenant"))
    action = "attached"
    reason = "new profile"


class IdentityRulesFactory(TenantOwnedFactory):
    class Meta:
        model = IdentityRules

    blocklist = factory.LazyFunction(lambda: [{"type": "email", "value": "shared@agency.example"}])


class SegmentFactory(TenantOwnedFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    conditions = factory.LazyFunction(lambda: {"operator": "and", "rules": [
        {"field": "lifecycle_stage", "operator": "equals", "value": "customer"}]})


class SegmentMembershipFactory(TenantOwnedFactory):
    class Meta:
        model = SegmentMembership

    segment = factory.SubFactory(SegmentFactory, tenant=factory.SelfAttribute("..tenant"))
    profile = factory.SubFactory(ProfileFactory, tenant=factory.SelfAttribute("..tenant"))
    added_at = factory.LazyFunction(timezone.now)


class AudienceFactory(TenantOwnedFactory):
    class Meta:
        model = Audience

    name = factory.Sequence(lambda n: f"Audience {n}")
    segment = factory.SubFactory(SegmentFactory, tenant=factory.SelfAttribute("..tenant"))
    ad_account = factory.SubFactory(AdAccountFactory, tenant=factory.SelfAttribute("..tenant"))
    platform = factory.SelfAttribute("ad_account.platform")
    platform_config = factory.LazyAttribute(lambda o: {"ad_account_id": o.ad_account.external_id,
                                                       "audience_type": "custom"})


class AudienceMemberFactory(TenantOwnedFactory):
    class Meta:
        model = AudienceMember

    audience = factory.SubFactory(AudienceFactory, tenant=factory.SelfAttribute("..tenant"))
    profile = factory.SubFactory(ProfileFactory, tenant=factory.SelfAttribute("..tenant"))
    synced_at = factory.LazyFunction(timezone.now)


class AudienceSyncRunFactory(TenantOwnedFactory):
    class Meta:
        model = AudienceSyncRun

    audience = factory.SubFactory(AudienceFactory, tenant=factory.SelfAttribute("..tenant"))
    status = "success"
    started_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(minutes=2))
    finished_at = factory.LazyFunction(timezone.now)


class AudienceExportFactory(TenantOwnedFactory):
    class Meta:
        model = AudienceExport

    segment = factory.SubFactory(SegmentFactory, tenant=factory.SelfAttribute("..tenant"))
    status = "pending"


class PrivacySettingsFactory(TenantOwnedFactory):
    class Meta:
        model = PrivacySettings
        django_get_or_create = ("tenant",)

    require_ads_consent = False


class PrivacyRequestFactory(TenantOwnedFactory):
    class Meta:
        model = PrivacyRequest

    type = "suppress"
    status = "completed"
    identifier_types = factory.LazyFunction(lambda: ["email"])
    counts = factory.LazyFunction(lambda: {"identifiers_suppressed": 1})
    completed_at = factory.LazyFunction(timezone.now)


class SuppressedIdentifierFactory(TenantOwnedFactory):
    class Meta:
        model = SuppressedIdentifier

    digest = factory.Sequence(lambda n: f"{n:064x}")


class AudienceRemovalFactory(TenantOwnedFactory):
    class Meta:
        model = AudienceRemoval

    audience = factory.SubFactory(AudienceFactory, tenant=factory.SelfAttribute("..tenant"))
    email_sha256 = factory.Sequence(lambda n: f"{n:064x}")
class SourceFactory(TenantOwnedFactory):
    """A source whose write key is `wk_factory-<n>` (only the hash is stored, as the service does)."""

    class Meta:
        model = Source

    name = factory.Sequence(lambda n: f"Source {n}")
    kind = "browser"
    allowed_origins = factory.LazyFunction(lambda: ["https://shop.example.com"])
    key_prefix = factory.Sequence(lambda n: f"wk_fac{n}"[:10])
    key_hash = factory.Sequence(lambda n: hashlib.sha256(f"wk_factory-{n}".encode()).hexdigest())


class JourneyFactory(TenantOwnedFactory):
    class Meta:
        model = Journey

    profile = factory.SubFactory(ProfileFactory, tenant=factory.SelfAttribute("..tenant"))
    converted_at = factory.LazyFunction(timezone.now)
    revenue = 10
    path = "email\x1fSpring"
    touch_count = 1
    first_touch = factory.LazyFunction(lambda: timezone.now().timestamp() - 3600)
    last_touch = factory.SelfAttribute("first_touch")
    touch_times = factory.LazyAttribute(lambda o: "{" + repr(o.first_touch) + "}")


class EventMessageClaimFactory(TenantOwnedFactory):
    class Meta:
        model = EventMessageClaim

    message_id = factory.Sequence(lambda n: f"msg-{n}")
    claimed_at = factory.LazyFunction(timezone.now)


class EventIngestDayFactory(TenantOwnedFactory):
    class Meta:
        model = EventIngestDay

    day = factory.LazyFunction(lambda: timezone.now().date())
    count = 5


class JourneyMarkFactory(TenantOwnedFactory):
    class Meta:
        model = JourneyMark

    profile_id = factory.LazyFunction(uuid.uuid4)
    since = factory.LazyFunction(timezone.now)
