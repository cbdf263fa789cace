"""PostgreSQL: keep 15 % of each cdp_profile page free, so the per-batch totals update (orders, LTV, last seen —
no indexed column) is a heap-only tuple (HOT) update in place instead of new entries in all eight indexes."""
from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE cdp_profile SET (fillfactor = 85)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE cdp_profile RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ("cdp", "0007_event_routing_identity"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
