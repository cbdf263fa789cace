"""Choosing which ad accounts of a connection Stratum syncs."""
from __future__ import annotations

from django.db import transaction

from accounts.models import Tenant
from campaigns.connectors.base import AccountRecord, ConnectorAuthError, ConnectorError
from campaigns.models import AdAccount
from stratum.api.entitlements import limit_enforce, tenant_lock
from stratum.api.exceptions import ValidationFailed
from stratum.api.queueing import task_enqueue

from .connectors import connector_for_connection
from .errors import NotConnected, ProviderError, UnknownProvider
from .models import AD_PROVIDERS, Connection
from .oauth.providers import PROVIDERS


def ad_connection_get(*, tenant: Tenant, platform: str) -> Connection:
    if platform not in AD_PROVIDERS:
        raise UnknownProvider(f"Unknown ad platform {str(platform)[:40]!r}. Supported: {', '.join(AD_PROVIDERS)}.")
    connection = Connection.objects.for_tenant(tenant).filter(provider=platform).first()
    if connection is None:
        raise NotConnected(f"{PROVIDERS[platform].label} is not connected. Connect it via /api/v1/oauth/{platform}/authorize.")
    if connection.status != Connection.Status.ACTIVE:
        raise NotConnected(f"{PROVIDERS[platform].label} access has expired; connect it again.")
    return connection


def reachable_accounts(*, connection: Connection) -> list[AccountRecord]:
    """The ad accounts the connection's token can reach, live from the platform."""
    try:
        return connection_accounts(connection)
    except ConnectorAuthError as exc:
        raise NotConnected(str(exc)) from exc
    except ConnectorError as exc:
        raise ProviderError(str(exc), headers={"Retry-After": str(int(exc.retry_after))} if exc.retry_after else None) from exc


def connection_accounts(connection: Connection) -> list[AccountRecord]:
    return connector_for_connection(connection).list_accounts()


def platform_accounts_list(*, tenant: Tenant, platform: str) -> list[dict]:
    connection = ad_connection_get(tenant=tenant, platform=platform)
    accounts = reachable_accounts(connection=connection)
    rows = {a.external_id: a for a in AdAccount.objects.for_tenant(tenant).filter(platform=platform)}
    result = []
    for account in accounts:
        row = rows.get(account.external_id)
        selected = bool(row and row.is_active and row.connection_id == connection.pk)
        result.append({"external_id": account.external_id, "name": account.name, "currency": account.currency,
                       "timezone": account.timezone, "selected": selected,
                       "ad_account_id": row.pk if row is not None else None})
    return result


def platform_accounts_select(*, tenant: Tenant, platform: str, external_ids: list[str]) -> list[AdAccount]:
    """Makes exactly `external_ids` the synced accounts of this platform (others are deactivated, their
    history kept). Enforces the plan's max_ad_accounts across all platforms."""
    connection = ad_connection_get(tenant=tenant, platform=platform)
    wanted = list(dict.fromkeys(external_ids))
    available = {a.external_id: a for a in reachable_accounts(connection=connection)}
    unknown = [i for i in wanted if i not in available]
    if unknown:
        raise ValidationFailed(errors={"external_ids": [
            f"Not an account this {PROVIDERS[platform].label} connection can reach: {', '.join(unknown[:5])}."]})
    with transaction.atomic():
        # The tenant's lock first (also when it has no account yet: locking its accounts' rows locks nothing).
        tenant_lock(tenant=tenant)
        accounts = AdAccount.objects.for_tenant(tenant).select_for_update()
        others_active = accounts.filter(is_active=True).exclude(platform=platform).count()
        active_here = accounts.filter(is_active=True, platform=platform).count()
        if len(wanted) > active_here:
            limit_enforce(tenant=tenant, limit="max_ad_accounts", current=others_active, adding=len(wanted))
        selected, activated = [], []
        was_active = set(accounts.filter(platform=platform, is_active=True, connection_id=connection.pk)
                         .values_list("external_id", flat=True))
        for external_id in wanted:
            record = available[external_id]
            account, _ = AdAccount.objects.for_tenant(tenant).update_or_create(
                tenant=tenant, platform=platform, external_id=external_id,
                defaults={"name": record.name[:200], "currency": (record.currency or "USD")[:3],
                          "timezone": (record.timezone or "UTC")[:64], "connection_id": connection.pk,
                          "is_active": True})
            selected.append(account)
            if external_id not in was_active:
                activated.append(str(account.pk))
        AdAccount.objects.for_tenant(tenant).filter(platform=platform, is_active=True).exclude(
            external_id__in=wanted).update(is_active=False)
        for ad_account_id in activated:  # a newly chosen account is pulled right away, not at the next schedule
            task_enqueue(name="campaigns.tasks.ad_account_sync_task",
                         kwargs={"tenant_id": str(tenant.pk), "ad_account_id": ad_account_id, "trigger": "manual"})
    return selected

