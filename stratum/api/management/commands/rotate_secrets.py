"""Re-encrypts every secret at rest with the newest key of FERNET_KEYS.

Key rotation: prepend a new key to FERNET_KEYS, deploy, run this command, then remove the old key.
Works on every EncryptedTextField column of every app, in batches, each row in its own update.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from stratum.api.crypto import SecretUndecryptable, encrypted_columns, secret_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt all stored secrets (OAuth tokens, webhook secrets, Slack URLs, …) with the newest FERNET_KEYS key."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, **options):
        batch = max(1, options["batch_size"])
        total = failed = 0
        for model, columns in encrypted_columns():
            manager = getattr(model.objects, "unscoped", None)
            queryset = manager() if manager else model._base_manager.all()
            rows = 0
            last_pk = None
            while True:
                page = queryset.order_by("pk")
                if last_pk is not None:
                    page = page.filter(pk__gt=last_pk)
                page = list(page.values("pk", *columns)[:batch])
                if not page:
                    break
                last_pk = page[-1]["pk"]
                with transaction.atomic():
                    for row in page:
                        try:
                            values = {c: secret_reencrypt(row[c]) for c in columns if row[c]}
                        except SecretUndecryptable:
                            failed += 1
                            self.stderr.write(f"{model._meta.label} {row['pk']}: cannot decrypt with FERNET_KEYS")
                            continue
                        if values:
                            model._base_manager.filter(pk=row["pk"]).update(**values)
                            rows += 1
            total += rows
            self.stdout.write(f"{model._meta.label}: {rows} row(s) re-encrypted")
        if failed:
            raise CommandError(f"{failed} row(s) could not be decrypted; add the key they were encrypted with.")
        self.stdout.write(self.style.SUCCESS(f"Rotated secrets in {total} row(s)."))
