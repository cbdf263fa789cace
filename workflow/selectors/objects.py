"""Alerts, alert instances, leads and creative submissions a user may see, each annotated with the user's
role on its client (`my_role`)."""
from __future__ import annotations

from django.db.models import Case, CharField, Q, QuerySet, Value, When

from accounts.models import Tenant, User

from ..access import is_tenant_admin
from ..filters import AlertFilters, CreativeFilters, InstanceFilters, LeadFilters
from ..models import Alert, AlertInstance, ClientRole, CreativeSubmission, Lead
from .clients import clients_visible_to, membership_role


def with_client_role(rows: QuerySet, *, tenant: Tenant, user: User, owner_field: str | None = None) -> QuerySet:
    """Annotates `my_role` and keeps the rows whose client the user sees. Client-less rows (only where the
    model allows them) are visible to their owner (`owner_field`) as member."""
    if is_tenant_admin(user):
        return rows.annotate(my_role=Value(ClientRole.ADMIN, output_field=CharField()))
    role = membership_role(tenant=tenant, user=user, client_ref="client_id")
    if owner_field is not None:
        role = Case(When(Q(client__isnull=True, **{owner_field: user.pk}), then=Value(ClientRole.MEMBER)),
                    When(client__isnull=True, then=Value(None, output_field=CharField())),
                    default=role, output_field=CharField())
    return rows.annotate(my_role=role).filter(my_role__isnull=False)


def _client_filter(rows: QuerySet, *, tenant: Tenant, user: User, client_id) -> QuerySet:
    """A filter narrows: a client that does not exist or is hidden from `user` matches nothing (200, empty)."""
    if client_id is None:
        return rows
    return rows.filter(client__in=clients_visible_to(tenant=tenant, user=user).filter(pk=client_id).values("pk"))


def alerts_visible_to(*, tenant: Tenant, user: User) -> QuerySet[Alert]:
    return with_client_role(Alert.objects.for_tenant(tenant).select_related("client"), tenant=tenant, user=user)


def alerts_filter(*, tenant: Tenant, user: User, alerts: QuerySet[Alert], filters: AlertFilters) -> QuerySet[Alert]:
    alerts = _client_filter(alerts, tenant=tenant, user=user, client_id=filters.client_id)
    if filters.alert_type:
        alerts = alerts.filter(alert_type=filters.alert_type)
    if filters.is_enabled is not None:
        alerts = alerts.filter(is_enabled=filters.is_enabled)
    return alerts.order_by("client__name", "created_at", "id")


def instances_visible_to(*, tenant: Tenant, user: User) -> QuerySet[AlertInstance]:
    return with_client_role(AlertInstance.objects.for_tenant(tenant).select_related("alert"), tenant=tenant,
                            user=user)


def instances_filter(*, tenant: Tenant, user: User, instances: QuerySet[AlertInstance],
                     filters: InstanceFilters) -> QuerySet[AlertInstance]:
    instances = _client_filter(instances, tenant=tenant, user=user, client_id=filters.client_id)
    if filters.alert_id is not None:
        instances = instances.filter(alert_id=filters.alert_id)
    if filters.status:
        instances = instances.filter(status=filters.status)
    return instances.order_by("-triggered_at", "id")


def leads_visible_to(*, tenant: Tenant, user: User) -> QuerySet[Lead]:
    return with_client_role(Lead.objects.for_tenant(tenant), tenant=tenant, user=user)


def leads_filter(*, tenant: Tenant, user: User, leads: QuerySet[Lead], filters: LeadFilters) -> QuerySet[Lead]:
    leads = _client_filter(leads, tenant=tenant, user=user, client_id=filters.client_id)
    if filters.min_score is not None:
        leads = leads.filter(score__gte=filters.min_score)
    if filters.max_score is not None:
        leads = leads.filter(score__lte=filters.max_score)
    leads = filters.created.apply(leads)
    return leads.order_by("-score", "-created_at", "id")


def creatives_visible_to(*, tenant: Tenant, user: User) -> QuerySet[CreativeSubmission]:
    return with_client_role(CreativeSubmission.objects.for_tenant(tenant), tenant=tenant, user=user,
                            owner_field="submitted_by_id")


def creatives_filter(*, tenant: Tenant, user: User, creatives: QuerySet[CreativeSubmission],
                     filters: CreativeFilters) -> QuerySet[CreativeSubmission]:
    creatives = _client_filter(creatives, tenant=tenant, user=user, client_id=filters.client_id)
    if filters.status:
        creatives = creatives.filter(status=filters.status)
    if filters.ad_type:
        creatives = creatives.filter(ad_type=filters.ad_type)
    creatives = filters.created.apply(creatives)
    prefix = "-" if filters.order == "desc" else ""
    return creatives.order_by(f"{prefix}{filters.sort}", "-created_at", "id")
