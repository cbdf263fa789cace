"""Rebuilds the attribution journeys (`cdp.Journey`) from raw events: every tenant, or those named by slug.

Ingestion marks what changes and the catch-up keeps journeys current; this rebuilds now, in the foreground (a
tenant-wide mark and a catch-up under the tenant's lock), after events were written around ingestion (a bulk load
with COPY, a restore). `journeys_mark_all` does the same on the worker, within a minute (beat).
"""
from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Tenant
from cdp.services.journeys import journeys_rebuild
from stratum.api.tenancy import tenant_scope


class Command(BaseCommand):
    help = "Rebuild attribution journeys from raw CDP events (all tenants, or --tenant SLUG ...)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", action="append", default=[], help="Tenant slug (repeatable).")

    def handle(self, *args, **options):
        tenants = Tenant.objects.order_by("slug")
        if options["tenant"]:
            tenants = tenants.filter(slug__in=options["tenant"])
        for tenant in tenants:
            with tenant_scope(tenant), transaction.atomic():
                profiles = journeys_rebuild(tenant=tenant)
            self.stdout.write(f"{tenant.slug}: journeys of {profiles} profiles rebuilt")
