"""PostgreSQL: the events table becomes partitioned by month of `timestamp` (existing rows copied into their months'
partitions, constraints and indexes recreated with the partition key in the unique ones). SQLite: nothing changes.
Reversible. The copy holds an exclusive lock on the table: on a large table run it in a maintenance window."""
import datetime as dt

from django.db import migrations

from cdp import partitioning

AHEAD = 3  # months created past the current one; the scheduled task keeps it so (cdp.tasks.event_partitions_maintain)
BACK = 12  # months before the current one, for recent backfills (older rows go to the DEFAULT partition)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        partitioning.table_partition(cursor, ahead=AHEAD, back=BACK, today=dt.datetime.now(dt.timezone.utc).date())


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        partitioning.table_unpartition(cursor)


class Migration(migrations.Migration):

    dependencies = [
        ("cdp", "0011_privacy"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
