# Notifications have one home: accounts 0003 takes over SlackDestination and its table (webhooks_slackdestination).
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0006_slackdestination"),
        ("webhooks", "0003_digestrun_to_analytics"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="SlackDestination")],
            database_operations=[],
        ),
    ]
