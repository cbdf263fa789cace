from django.db import migrations, models


class Migration(migrations.Migration):
    """Separate from 0003: PostgreSQL will not alter a table whose rows the same transaction just updated."""

    dependencies = [("accounts", "0003_user_email_key")]

    operations = [
        migrations.AlterField("user", "email_key", models.CharField(max_length=254, unique=True, editable=False)),
    ]
