"""Status events by month and the OCPP frame log by day, partitioned (cms/partitions.py): a year of a national
network stays fast, and the frame log's retention drops whole days. The rows, ids, indexes and constraints stay."""

from django.db import migrations, models

from cms.partitions import partitioned_table, table_partition, table_unpartition

TABLES = ["stations_connectorstatusevent", "stations_ocppmessage"]


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            table_partition(partitioned_table(table), cursor)


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            table_unpartition(partitioned_table(table), cursor)


class Migration(migrations.Migration):
    dependencies = [("stations", "0009_security_profile_3")]

    operations = [
        migrations.RunPython(partition, unpartition),
        migrations.AddIndex(
            model_name="connectorstatusevent",
            index=models.Index(fields=["station", "-timestamp"], name="status_event_station_recent"),
        ),
    ]
