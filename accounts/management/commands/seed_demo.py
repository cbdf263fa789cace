"""Creates the demo tenant (or fills an existing user's tenant) and lets every app add its demo data.

Apps contribute by providing `<app>/demo.py` with `seed(*, tenant, stdout) -> None`; they run in
INSTALLED_APPS order (campaigns before trust and workflow) inside the tenant's scope. Seeders must be
idempotent: running the command twice leaves one set of demo data.
"""
from __future__ import annotations

import importlib
import logging
import secrets

from django.apps import apps
from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Tenant, User
from stratum.api.tenancy import tenant_scope

DEMO_EMAIL = "demo@stratum.local"
DEMO_SLUG = "demo"


class Command(BaseCommand):
    help = "Create the demo tenant with demo data (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--email", help="Fill the tenant of this existing user instead of the demo tenant.")
        parser.add_argument("--reset-password", action="store_true", help="Give the demo user a new password.")
        parser.add_argument("--only", help="Comma-separated app labels whose seeders run (default: all).")

    def handle(self, *args, **options):
        demo = not options.get("email")
        if not demo:
            user = User.objects.select_related("tenant").filter(email__iexact=options["email"]).first()
            if user is None or user.tenant is None:
                raise CommandError(f"No tenant user with e-mail {options['email']}.")
            tenant = user.tenant
        else:
            tenant, user = self._demo_tenant(reset_password=options["reset_password"])
        only = set(filter(None, (options.get("only") or "").split(",")))
        # Tasks the seed queues run in-process without a broker; their per-task lines would bury the summary.
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
        with tenant_scope(tenant):
            for config in apps.get_app_configs():
                if only and config.label not in only:
                    continue
                try:
                    module = importlib.import_module(f"{config.name}.demo")
                except ModuleNotFoundError as exc:
                    if exc.name == f"{config.name}.demo":
                        continue
                    raise
                self.stdout.write(f"seeding {config.label} …")
                with transaction.atomic():
                    module.seed(tenant=tenant, stdout=self.stdout)
        if demo:
            self._share_password(tenant=tenant, owner=user, reset=options["reset_password"])
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in tenant {tenant.name!r} ({tenant.slug})."))
        if "filebased" in settings.EMAIL_BACKEND:
            self.stdout.write(f"The demo's e-mails are files under {settings.EMAIL_FILE_PATH}/.")

    def _share_password(self, *, tenant: Tenant, owner: User, reset: bool) -> None:
        """Every demo user (client admins, members, viewers …) signs in with the owner's printed password, so each
        role can be tried; a user whose password someone set by hand keeps it unless --reset-password."""
        others = User.objects.filter(tenant=tenant).exclude(pk=owner.pk)
        if not reset:
            others = others.filter(password__startswith=UNUSABLE_PASSWORD_PREFIX)
        others.update(password=owner.password)
        people = list(User.objects.filter(tenant=tenant).exclude(pk=owner.pk).order_by("email")
                      .values_list("email", "role"))
        if people:
            self.stdout.write(f"Other demo logins (same password): "
                              f"{', '.join(f'{email} ({role})' for email, role in people)}")

    def _demo_tenant(self, *, reset_password: bool):
        tenant, _ = Tenant.objects.get_or_create(
            slug=DEMO_SLUG,
            defaults={"name": "Demo Agency", "plan": "enterprise",
                      "settings": {"timezone": "America/New_York", "currency": "USD"}},
        )
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None or reset_password:
            password = secrets.token_urlsafe(12)
            if user is None:
                user = User.objects.create_user(email=DEMO_EMAIL, password=password, name="Demo Owner", tenant=tenant,
                                                role="owner", is_verified=True)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            self.stdout.write(self.style.WARNING(f"Demo login: {DEMO_EMAIL} / {password}"))
        else:
            self.stdout.write(f"Demo user {DEMO_EMAIL} exists (new password: seed_demo --reset-password).")
        return tenant, user
