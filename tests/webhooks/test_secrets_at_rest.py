"""Webhook secrets and Slack URLs are encrypted at rest and re-encrypted by `manage.py rotate_secrets`."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from accounts.models import SlackDestination
from integrations.webhooks.models import Webhook
from stratum.api.crypto import secret_decrypt
from tests.accounts.factories import SlackDestinationFactory
from tests.webhooks.factories import WebhookFactory

pytestmark = pytest.mark.django_db


def test_rotate_secrets_re_encrypts_webhook_secrets_and_slack_urls(tenant, settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FERNET_KEYS = [old_key]
    webhook = WebhookFactory(tenant=tenant, secret="whsec_" + "A" * 43 + "=")
    Webhook.objects.for_tenant(tenant).filter(pk=webhook.pk).update(
        previous_secret_encrypted=Fernet(old_key).encrypt(b"whsec_old").decode())
    slack = SlackDestinationFactory(tenant=tenant)

    settings.FERNET_KEYS = [new_key, old_key]
    call_command("rotate_secrets", stdout=open("/dev/null", "w"))

    settings.FERNET_KEYS = [new_key]  # the old key is gone: everything still opens
    webhook.refresh_from_db()
    slack.refresh_from_db()
    assert secret_decrypt(webhook.secret_encrypted) == "whsec_" + "A" * 43 + "="
    assert secret_decrypt(webhook.previous_secret_encrypted) == "whsec_old"
    assert secret_decrypt(slack.url_encrypted).startswith("https://hooks.slack.com/services/")
    assert SlackDestination.objects.for_tenant(tenant).count() == 1
