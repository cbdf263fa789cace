# The weekly digest moved from integrations.webhooks to analytics: the table stays (webhooks_digestrun); only
# Django's model state moves, so nothing is copied or lost.
import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_notification"),
        ("analytics", "0001_initial"),
        ("webhooks", "0002_encrypted_columns"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="DigestRun",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("week_start", models.DateField()),
                        ("sent_at", models.DateTimeField(auto_now_add=True)),
                        ("recipients", models.PositiveIntegerField(default=0)),
                        ("summary", models.JSONField(blank=True, default=dict)),
                        ("tenant", models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE,
                                                     related_name="+", to="accounts.tenant")),
                    ],
                    options={
                        "db_table": "webhooks_digestrun",
                        "ordering": ["-week_start"],
                        "constraints": [models.UniqueConstraint(fields=("tenant", "week_start"),
                                                                name="webhooks_digest_once_per_week")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
