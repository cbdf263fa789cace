"""seed_demo: a webhook endpoint (switched off, so the offline demo sends nothing). Idempotent: the endpoint is
found by name."""
from __future__ import annotations

from accounts.models import User
from stratum.api.outbox import WEBHOOK_EVENTS

from .models import Webhook
from .services import webhook_create, webhook_update

DEMO_WEBHOOK = "Ops receiver (demo)"


def seed(*, tenant, stdout) -> None:
    if not Webhook.objects.for_tenant(tenant).filter(name=DEMO_WEBHOOK).exists():
        owner = User.objects.filter(tenant=tenant, role="owner").order_by("created_at").first()
        webhook, _ = webhook_create(tenant=tenant, created_by=owner, name=DEMO_WEBHOOK,
                                    url="https://hooks.example.com/stratum-demo", events=list(WEBHOOK_EVENTS))
        webhook_update(tenant=tenant, webhook=webhook, data={"is_active": False})
        stdout.write(f"  added webhook {DEMO_WEBHOOK!r} (disabled; enable it with a real receiver URL)")
