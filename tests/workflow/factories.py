import factory

from tests.accounts.factories import UserFactory
from tests.factories import TenantOwnedFactory
from workflow.models import Client, ClientMembership


class ClientFactory(TenantOwnedFactory):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n}")
    logo = "https://example.com/logo.png"


class ClientMembershipFactory(TenantOwnedFactory):
    class Meta:
        model = ClientMembership

    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    user = factory.SubFactory(UserFactory, tenant=factory.SelfAttribute("..tenant"), role="analyst")
    role = "member"
