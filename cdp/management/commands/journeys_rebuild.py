"""Rebuilds the attribution journeys (`cdp.Journey`) from raw events: every tenant, or those named by slug.

Ingestion keeps journeys current; this is the backfill (migration 0013 runs it once) and the repair after events
were written around ingestion (a bulk load with COPY, a restore).
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
