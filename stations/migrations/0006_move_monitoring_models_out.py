"""Alerts, maintenance jobs and firmware images leave for the monitoring app (``monitoring.0001_initial``).

In the migration state only: their tables stay, with their rows, and the monitoring app takes them over.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('stations', '0005_node_leases'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='alertevent',
                    name='alert',
                ),
                migrations.RemoveField(
                    model_name='alertdelivery',
                    name='alert',
                ),
                migrations.RemoveField(
                    model_name='alertchannel',
                    name='sites',
                ),
                migrations.RemoveField(
                    model_name='alertdelivery',
                    name='channel',
                ),
                migrations.RemoveField(
                    model_name='alertevent',
                    name='actor',
                ),
                migrations.RemoveField(
                    model_name='firmwareimage',
                    name='uploaded_by',
                ),
                migrations.RemoveField(
                    model_name='maintenancejob',
                    name='firmware',
                ),
                migrations.RemoveField(
                    model_name='maintenancejob',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='maintenancejob',
                    name='stations',
                ),
                migrations.RemoveField(
                    model_name='maintenancetarget',
                    name='job',
                ),
                migrations.RemoveField(
                    model_name='maintenancetarget',
                    name='command',
                ),
                migrations.RemoveField(
                    model_name='maintenancetarget',
                    name='station',
                ),
                migrations.DeleteModel(
                    name='Alert',
                ),
                migrations.DeleteModel(
                    name='AlertChannel',
                ),
                migrations.DeleteModel(
                    name='AlertDelivery',
                ),
                migrations.DeleteModel(
                    name='AlertEvent',
                ),
                migrations.DeleteModel(
                    name='FirmwareImage',
                ),
                migrations.DeleteModel(
                    name='MaintenanceJob',
                ),
                migrations.DeleteModel(
                    name='MaintenanceTarget',
                ),
            ],
        ),
    ]
