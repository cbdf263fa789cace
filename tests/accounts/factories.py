import factory
from factory.django import DjangoModelFactory

from accounts.models import ApiKey, Notification, SlackDestination, Tenant, User, hash_api_key
from stratum.api.crypto import secret_encrypt
from stratum.api.models import OutboxEvent
from stratum.api.permissions import SCOPES
from tests.factories import TenantOwnedFactory

TEST_PASSWORD = "Correct-Horse-Battery-9"


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")
    plan = "enterprise"
    settings = factory.LazyFunction(lambda: {"timezone": "UTC", "currency": "USD"})


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    role = "owner"
    is_verified = True
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ApiKeyFactory(TenantOwnedFactory):
    class Meta:
        model = ApiKey
        exclude = ("raw",)

    raw = factory.Sequence(lambda n: f"sk_live_testkey{n:08d}abcdefghijklmnopqrstuvwxyz0123456789")
    name = factory.Sequence(lambda n: f"Key {n}")
    prefix = factory.LazyAttribute(lambda o: o.raw[:12])
    key_hash = factory.LazyAttribute(lambda o: hash_api_key(o.raw))
    permissions = factory.LazyFunction(lambda: list(SCOPES))
    created_by = factory.SubFactory(UserFactory, tenant=factory.SelfAttribute("..tenant"))


class OutboxEventFactory(TenantOwnedFactory):
    class Meta:
        model = OutboxEvent

    event_type = "campaign.paused"
    data = factory.LazyFunction(lambda: {"campaign_id": "x"})


class NotificationFactory(TenantOwnedFactory):
    class Meta:
        model = Notification

    user = factory.SubFactory(UserFactory, tenant=factory.SelfAttribute("..tenant"))
    category = "campaign_alerts"
    title = factory.Sequence(lambda n: f"Notification {n}")


class SlackDestinationFactory(TenantOwnedFactory):
    class Meta:
        model = SlackDestination
        exclude = ("url",)

    url = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
    user = None
    url_encrypted = factory.LazyAttribute(lambda o: secret_encrypt(o.url))
    url_hint = factory.LazyAttribute(lambda o: o.url[:40] + "…")
