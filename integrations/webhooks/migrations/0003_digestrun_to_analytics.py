# The weekly digest moved to analytics (analytics 0002 takes over the model and its table, webhooks_digestrun).
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("analytics", "0002_digestrun"),
        ("webhooks", "0002_encrypted_columns"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="DigestRun")],
            database_operations=[],
        ),
    ]
