"""Recomputes the campaigns' lifetime totals from their daily metrics: every tenant, or those named by slug.

Triggers keep the totals exact on every write of daily rows; this repairs them after writes that bypassed the
triggers (a restore with triggers off, a TRUNCATE) and, with --check, only reports (exit status 1 when any differ).
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from campaigns.services.totals import campaign_totals_repair
from stratum.api.tenancy import tenant_scope


class Command(BaseCommand):
    help = "Recompute campaign lifetime totals from daily metrics (all tenants, or --tenant SLUG ...; --check)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", action="append", default=[], help="Tenant slug (repeatable).")
        parser.add_argument("--check", action="store_true", help="Only report campaigns whose totals differ.")

    def handle(self, *args, **options):
        tenants = Tenant.objects.order_by("slug")
        if options["tenant"]:
            tenants = tenants.filter(slug__in=options["tenant"])
        drifted = 0
        for tenant in tenants:
            with tenant_scope(tenant):
                wrong = campaign_totals_repair(tenant=tenant, dry_run=options["check"])
            drifted += wrong
            verb = "differ" if options["check"] else "repaired"
            self.stdout.write(f"{tenant.slug}: {wrong} campaign totals {verb}")
        if options["check"] and drifted:
            raise CommandError(f"{drifted} campaign totals differ from their daily metrics")
