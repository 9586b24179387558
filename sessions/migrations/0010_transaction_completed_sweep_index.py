"""The billing sweep's index: completed sessions by (created_at, id), built without locking the table's writes."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY: stations go on stopping sessions while it is built

    dependencies = [("charging_sessions", "0009_partition_meter_samples")]

    operations = [
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(status="completed"), fields=["created_at", "id"], name="transaction_completed_sweep"
            ),
        ),
    ]
