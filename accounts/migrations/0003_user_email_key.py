"""User.email_key: the canonical e-mail (NFKC + casefold) every lookup, uniqueness check and lock-out uses."""
import unicodedata

from django.db import migrations, models


def canonical_email(email: str) -> str:  # frozen copy of accounts.identity.canonical_email
    text = unicodedata.normalize("NFKC", (email or "").strip())
    return unicodedata.normalize("NFKC", text.casefold())


def fill(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    seen: dict[str, str] = {}
    for user in User.objects.order_by("created_at").only("pk", "email").iterator():
        key = canonical_email(user.email)
        if key in seen:
            raise RuntimeError(f"Users {seen[key]} and {user.email} are one address in canonical form ({key}); "
                               "merge or rename one of them, then migrate again.")
        seen[key] = user.email
        User.objects.filter(pk=user.pk).update(email_key=key)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_notification")]

    operations = [
        migrations.AddField("user", "email_key", models.CharField(max_length=254, null=True, editable=False)),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
