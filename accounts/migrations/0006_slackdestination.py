# Notifications have one home (accounts/notifications): the Slack destinations move here from integrations.webhooks.
# The table stays (webhooks_slackdestination); only Django's model state moves, so nothing is copied or lost.
import uuid

import django.db.models.deletion
from django.db import migrations, models

import stratum.api.crypto


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0005_login_session"),
        ("webhooks", "0003_digestrun_to_analytics"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SlackDestination",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("url_encrypted", stratum.api.crypto.EncryptedTextField(editable=False)),
                        ("url_hint", models.CharField(editable=False, max_length=80)),
                        ("last_error", models.CharField(blank=True, max_length=500)),
                        ("last_failure_at", models.DateTimeField(blank=True, null=True)),
                        ("last_success_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("tenant", models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE,
                                                     related_name="+", to="accounts.tenant")),
                        ("user", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE,
                                                   related_name="+", to="accounts.user")),
                    ],
                    options={
                        "db_table": "webhooks_slackdestination",
                        "ordering": ["created_at"],
                        "constraints": [
                            models.UniqueConstraint(condition=models.Q(("user__isnull", False)), fields=("tenant", "user"),
                                                    name="webhooks_slack_one_per_user"),
                            models.UniqueConstraint(condition=models.Q(("user__isnull", True)), fields=("tenant",),
                                                    name="webhooks_slack_one_per_tenant"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
