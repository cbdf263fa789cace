import uuid

import factory
from django.utils import timezone

from integrations.webhooks.delivery import message_id_for, payload_body
from integrations.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from integrations.webhooks.signing import secret_generate, secret_hint
from stratum.api.crypto import secret_encrypt
from tests.factories import TenantOwnedFactory

RECEIVER_URL = "https://hooks.example.com/stratum"


class WebhookFactory(TenantOwnedFactory):
    class Meta:
        model = Webhook
        exclude = ("secret",)

    secret = factory.LazyFunction(secret_generate)
    name = factory.Sequence(lambda n: f"Webhook {n}")
    url = RECEIVER_URL
    events = factory.LazyFunction(lambda: ["campaign.paused", "campaign.activated", "budget.changed"])
    secret_encrypted = factory.LazyAttribute(lambda o: secret_encrypt(o.secret))
    secret_hint = factory.LazyAttribute(lambda o: secret_hint(o.secret))


class WebhookDeliveryFactory(TenantOwnedFactory):
    class Meta:
        model = WebhookDelivery
        exclude = ("uid",)

    uid = factory.LazyFunction(uuid.uuid4)
    webhook = factory.SubFactory(WebhookFactory, tenant=factory.SelfAttribute("..tenant"))
    event_id = factory.SelfAttribute("uid")
    event_type = "campaign.paused"
    message_id = factory.LazyAttribute(lambda o: message_id_for(o.uid))
    body = factory.LazyAttribute(lambda o: payload_body(event_type=o.event_type, occurred_at=timezone.now(),
                                                        data={"campaign_id": str(o.uid), "campaign_name": "Summer Sale"}))
    status = WebhookDelivery.Status.SUCCEEDED
    attempt_count = 1


class WebhookAttemptFactory(TenantOwnedFactory):
    class Meta:
        model = WebhookAttempt

    delivery = factory.SubFactory(WebhookDeliveryFactory, tenant=factory.SelfAttribute("..tenant"))
    number = 1
    outcome = WebhookAttempt.Outcome.SUCCEEDED
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyFunction(timezone.now)
    status_code = 200
    latency_ms = 42
    response_excerpt = "ok"
