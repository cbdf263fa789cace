"""Prints the API version each connector calls with its published sunset, and — for every provider whose
credentials are configured — runs one live read-only call with an active connection's token.

    manage.py connectors_check [--tenant <slug or id>] [--no-probe]

Exit status 1 when a version is within 60 days of (or past) its sunset or unknown, or when a probe fails.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Tenant
from campaigns.connectors.base import ConnectorError
from stratum.api.tenancy import tenant_scope

from ...models import PROVIDERS, Connection
from ...oauth.providers import PROVIDERS as OAUTH_PROVIDERS
from ...probes import PROBES
from ...versions import SUNSET_WARNING_DAYS, version_problems, version_row, versions_in_use


class Command(BaseCommand):
    help = "Connector API versions with their sunset dates, and a live read-only probe per configured provider."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Probe with this tenant's connections (slug or id); default: any.")
        parser.add_argument("--no-probe", action="store_true", help="Only print versions and sunsets.")

    def handle(self, *args, **options):
        today = timezone.now().date()
        versions = versions_in_use()
        failed = False
        self.stdout.write(f"{'provider':<11} {'version':<8} {'sunset':<12} {'days left':>9}  status  source")
        for provider in PROVIDERS:
            version = versions[provider]
            row = version_row(provider, version)
            problems = version_problems({provider: version}, today=today)
            failed |= bool(problems)
            sunset = "unknown" if row is None else (
                f"{row.sunset}{'*' if row.projected else ''}" if row.sunset else "none set")
            left = row.days_left(today) if row else None
            status = "FAIL" if problems else "ok"
            self.stdout.write(f"{provider:<11} {version:<8} {sunset:<12} {left if left is not None else '-':>9}  "
                              f"{status:<6}  {row.source if row else '-'}")
            for problem in problems:
                self.stdout.write(f"  ! {problem}")
        self.stdout.write(f"(* projected by the provider; a version within {SUNSET_WARNING_DAYS} days of its sunset fails the check)")
        if not options["no_probe"]:
            failed |= self._probe(options.get("tenant"))
        if failed:
            raise CommandError("connectors_check found problems (see above).")

    def _probe(self, tenant_ref: str | None) -> bool:
        tenant = None
        if tenant_ref:
            by = {"pk": tenant_ref} if _uuid_like(tenant_ref) else {"slug": tenant_ref}
            tenant = Tenant.objects.filter(**by).first()
            if tenant is None:
                raise CommandError(f"Unknown tenant {tenant_ref!r}.")
        failed = False
        self.stdout.write("\nlive probes (read-only)")
        for provider in PROVIDERS:
            spec = OAUTH_PROVIDERS[provider]
            if not spec.configured():
                self.stdout.write(f"{provider:<11} skipped: not configured")
                continue
            connections = Connection.objects.unscoped().filter(provider=provider, status=Connection.Status.ACTIVE)
            if tenant is not None:
                connections = connections.filter(tenant=tenant)
            connection = connections.select_related("tenant").order_by("-last_refreshed_at", "-connected_at").first()
            if connection is None:
                self.stdout.write(f"{provider:<11} skipped: configured, but no active connection to probe with")
                continue
            try:
                with tenant_scope(connection.tenant):
                    detail = PROBES[provider](connection)
            except ConnectorError as exc:
                failed = True
                self.stdout.write(f"{provider:<11} FAIL ({connection.tenant.slug}): {exc}")
            else:
                self.stdout.write(f"{provider:<11} ok ({connection.tenant.slug}): {detail}")
        return failed


def _uuid_like(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
