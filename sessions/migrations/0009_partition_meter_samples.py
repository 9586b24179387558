"""Meter samples partitioned by month (cms/partitions.py): a year of a national network stays fast to read and
to insert into, and old months can be moved or dropped whole. The rows, ids, indexes and constraints stay."""

from django.db import migrations

from cms.partitions import partitioned_table, table_partition, table_unpartition

TABLES = ["charging_sessions_metersample"]


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            table_partition(partitioned_table(table), cursor)


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            table_unpartition(partitioned_table(table), cursor)


class Migration(migrations.Migration):
    dependencies = [("charging_sessions", "0008_reservations")]

    operations = [migrations.RunPython(partition, unpartition)]
