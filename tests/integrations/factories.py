import factory
from django.utils import timezone

from integrations.models import Connection, CrmContactLink, CrmSyncRun, OAuthState
from stratum.api.crypto import secret_encrypt
from tests.accounts.factories import UserFactory
from tests.factories import TenantOwnedFactory


class ConnectionFactory(TenantOwnedFactory):
    class Meta:
        model = Connection
        django_get_or_create = ("tenant", "provider")

    provider = "hubspot"
    kind = factory.LazyAttribute(lambda o: "crm" if o.provider in ("hubspot", "pipedrive", "salesforce", "zoho") else "ad")
    status = "active"
    access_token_encrypted = factory.LazyFunction(lambda: secret_encrypt("access-token-1"))
    refresh_token_encrypted = factory.LazyFunction(lambda: secret_encrypt("refresh-token-1"))
    token_expires_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(hours=1))
    scopes = factory.LazyFunction(lambda: ["crm.objects.contacts.read"])
    metadata = factory.LazyFunction(dict)


class OAuthStateFactory(TenantOwnedFactory):
    class Meta:
        model = OAuthState

    provider = "meta"
    user = factory.SubFactory(UserFactory, tenant=factory.SelfAttribute("..tenant"))
    nonce_hash = factory.Sequence(lambda n: f"{n:064d}")
    expires_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(minutes=10))


class CrmSyncRunFactory(TenantOwnedFactory):
    class Meta:
        model = CrmSyncRun

    connection = factory.SubFactory(ConnectionFactory, tenant=factory.SelfAttribute("..tenant"))
    provider = factory.SelfAttribute("connection.provider")
    direction = "bidirectional"
    status = "succeeded"


class CrmContactLinkFactory(TenantOwnedFactory):
    class Meta:
        model = CrmContactLink

    connection = factory.SubFactory(ConnectionFactory, tenant=factory.SelfAttribute("..tenant"))
    external_id = factory.Sequence(lambda n: str(1000 + n))
    profile_id = factory.Faker("uuid4")
