"""PostgreSQL only: a GIN index (jsonb_path_ops) on profile traits.

Segment rules `traits.<key> equals <value>` compile to containment (`traits @> {...}`), which this index
answers without reading every profile; other databases keep the plain table (JSON functions, full scan).
"""
from django.db import migrations

CREATE = "CREATE INDEX IF NOT EXISTS cdp_profile_traits_gin ON cdp_profile USING gin (traits jsonb_path_ops)"
DROP = "DROP INDEX IF EXISTS cdp_profile_traits_gin"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):

    dependencies = [
        ("cdp", "0003_rfm_table"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
