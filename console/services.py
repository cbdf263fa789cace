"""Staff actions from the console. Each calls the product's own service (the one the API calls) and records who did
it, when, to what, with the state before and after, in the staff action trail (console.models.StaffAction) — in the
same transaction, so an action that fails leaves no entry and an entry never lacks its action."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey, Tenant, User
from accounts.services.api_keys import api_key_revoke
from accounts.services.members import invitation_resend
from billing.plans import LIMITS, RATE_LIMIT_OVERRIDES, TIERS
from billing.selectors import tenant_limits
from billing.services import tenant_admin_update, tenant_plan_change, tenant_reactivate, tenant_suspend
from campaigns.models import AdAccountSyncRun
from campaigns.services.sync import ad_accounts_sync_queue
from cdp.models import AudienceSyncRun
from cdp.services.audiences import audience_sync_request
from integrations.crm.services import crm_sync_request
from integrations.models import CrmSyncRun
from integrations.webhooks.models import WebhookDelivery
from integrations.webhooks.services import delivery_redeliver
from stratum.api.exceptions import ApiError, ValidationFailed
from stratum.api.ratelimit import tenant_rate_limit

from .models import StaffAction, StaffActionKind

STRIPE_NOTE = ("Stripe is not touched: the tenant's subscription keeps its price, and the next subscription event "
               "from Stripe sets the tier again.")
RAISABLE_LIMITS = (*LIMITS, *RATE_LIMIT_OVERRIDES)
SYNC_KINDS = ("crm", "audience", "ad_account")
MAX_REDELIVER = 500


def staff_action_record(*, tenant: Tenant | None, staff: User, action: str, target: str = "",
                        before: dict | None = None, after: dict | None = None, note: str = "") -> StaffAction:
    return StaffAction.objects.create(
        tenant=tenant, tenant_name=tenant.name if tenant else "", staff=staff, staff_email=staff.email,
        action=action, target=target[:255], before=before or {}, after=after or {}, note=note)


def _locked(tenant: Tenant) -> Tenant:
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


@transaction.atomic
def tenant_staff_suspend(*, tenant: Tenant, staff: User) -> Tenant:
    tenant = _locked(tenant)
    before = {"status": tenant.status}
    tenant = tenant_suspend(tenant=tenant)
    staff_action_record(tenant=tenant, staff=staff, action=StaffActionKind.SUSPEND, target=tenant.name,
                        before=before, after={"status": tenant.status})
    return tenant


@transaction.atomic
def tenant_staff_reactivate(*, tenant: Tenant, staff: User) -> Tenant:
    tenant = _locked(tenant)
    before = {"status": tenant.status}
    tenant = tenant_reactivate(tenant=tenant)
    staff_action_record(tenant=tenant, staff=staff, action=StaffActionKind.REACTIVATE, target=tenant.name,
                        before=before, after={"status": tenant.status})
    return tenant


@transaction.atomic
def tenant_staff_plan_change(*, tenant: Tenant, staff: User, plan: str) -> Tenant:
    if plan not in TIERS:
        raise ValidationFailed(errors={"plan": [f"Unknown plan. Known: {', '.join(TIERS)}."]})
    tenant = _locked(tenant)
    before = {"plan": tenant.plan}
    tenant = tenant_plan_change(tenant=tenant, plan=plan)
    staff_action_record(tenant=tenant, staff=staff, action=StaffActionKind.PLAN_CHANGE, target=tenant.name,
                        before=before, after={"plan": tenant.plan}, note=STRIPE_NOTE)
    return tenant


def _effective_limits(tenant: Tenant) -> dict[str, int]:
    per_minute, burst = tenant_rate_limit(tenant)
    return {**tenant_limits(tenant=tenant), "api_requests_per_minute": per_minute, "api_burst": burst}


def _whole(name: str, value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationFailed(errors={name: ["A valid integer is required."]}) from None
    if number < 0:
        raise ValidationFailed(errors={name: ["Ensure this value is greater than or equal to 0."]})
    return number


@transaction.atomic
def tenant_staff_limits_raise(*, tenant: Tenant, staff: User, limits: dict[str, Any]) -> Tenant:
    """Sets limit overrides through the superadmin PATCH's service; the entry keeps each limit's effective value
    before and after (a tier's value or an earlier override)."""
    unknown = [name for name in limits if name not in RAISABLE_LIMITS]
    if unknown or not limits:
        raise ValidationFailed(errors={"limit": [f"Choose one of: {', '.join(RAISABLE_LIMITS)}."]})
    limits = {name: _whole(name, value) for name, value in limits.items()}
    tenant = _locked(tenant)
    before = {name: _effective_limits(tenant)[name] for name in limits}
    tenant = tenant_admin_update(tenant=tenant, data={"limit_overrides": limits})
    after = {name: _effective_limits(tenant)[name] for name in limits}
    staff_action_record(tenant=tenant, staff=staff, action=StaffActionKind.LIMITS_RAISE, target=tenant.name,
                        before=before, after=after)
    return tenant


def tenant_staff_edit_record(*, tenant: Tenant, staff: User, before: dict, after: dict) -> StaffAction | None:
    """The change form's save (validated by the API's own rules, TenantAdminForm): what changed, before and after."""
    if not before and not after:
        return None
    return staff_action_record(tenant=tenant, staff=staff, action=StaffActionKind.TENANT_EDIT, target=tenant.name,
                               before=before, after=after)


@transaction.atomic
def invitation_staff_resend(*, tenant: Tenant, staff: User, user: User) -> User:
    user = invitation_resend(tenant=tenant, user=user, invited_by=staff)
    staff_action_record(tenant=tenant, staff=staff, action=StaffActionKind.INVITATION_RESEND, target=user.email,
                        before={"invitation": "pending"}, after={"invitation": "mailed again"})
    return user


@transaction.atomic
def api_keys_staff_revoke_all(*, tenant: Tenant, staff: User) -> int:
    now = timezone.now()
    keys = list(ApiKey.objects.select_for_update().filter(tenant=tenant, revoked_at__isnull=True)
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).order_by("created_at"))
    for key in keys:
        api_key_revoke(tenant=tenant, key=key)
    staff_action_record(tenant=tenant, staff=staff, action=StaffActionKind.API_KEYS_REVOKE,
                        target=f"{len(keys)} API key(s)", before={"active": [k.prefix for k in keys]},
                        after={"active": []})
    return len(keys)


@transaction.atomic
def sync_staff_rerun(*, tenant: Tenant, staff: User, kind: str, run_id) -> dict:
    """Runs a failed sync again through the service the API's "sync now" calls; the entry names the failed run."""
    if kind == "crm":
        failed = CrmSyncRun.objects.for_tenant(tenant).select_related("connection").get(pk=run_id)
        run = crm_sync_request(tenant=tenant, provider=failed.provider, direction=failed.direction,
                               requested_by=staff)
        target, after = f"CRM sync {failed.provider}", {"run": str(run.pk), "status": run.status}
    elif kind == "audience":
        failed = AudienceSyncRun.objects.for_tenant(tenant).select_related("audience").get(pk=run_id)
        run = audience_sync_request(tenant=tenant, audience=failed.audience)
        target, after = f"Audience sync {failed.audience.name}", {"run": str(run.pk), "status": run.status}
    elif kind == "ad_account":
        failed = AdAccountSyncRun.objects.for_tenant(tenant).select_related("ad_account").get(pk=run_id)
        queued = ad_accounts_sync_queue(tenant=tenant, ad_account=failed.ad_account)
        target, after = f"Ad account sync {failed.ad_account.name}", queued
    else:
        raise ValidationFailed(errors={"kind": [f"Must be one of {', '.join(SYNC_KINDS)}."]})
    before = {"run": str(failed.pk), "status": failed.status}
    staff_action_record(tenant=tenant, staff=staff, action=StaffActionKind.SYNC_RERUN, target=target,
                        before=before, after=after)
    return after


def deliveries_staff_redeliver(*, tenant: Tenant, staff: User, delivery_ids: list | None = None) -> dict:
    """Queues the tenant's failed deliveries again (all of them, or the ones given), each through the API's
    redeliver service; a delivery it refuses (its webhook disabled) is reported, not retried."""
    deliveries = WebhookDelivery.objects.for_tenant(tenant).select_related("webhook").filter(
        status=WebhookDelivery.Status.FAILED).order_by("created_at")
    if delivery_ids is not None:
        deliveries = deliveries.filter(pk__in=delivery_ids)
    queued, refused = [], {}
    for delivery in deliveries[:MAX_REDELIVER]:
        try:
            with transaction.atomic():
                delivery_redeliver(tenant=tenant, delivery=delivery)
            queued.append(str(delivery.pk))
        except ApiError as exc:
            refused[str(delivery.pk)] = str(exc.detail)
    staff_action_record(tenant=tenant, staff=staff, action=StaffActionKind.DELIVERIES_REDELIVER,
                        target=f"{len(queued)} failed webhook deliveries",
                        before={"failed": queued + list(refused)}, after={"queued": queued, "refused": refused})
    return {"queued": queued, "refused": refused}
