"""The StartTransaction replay key, filled in by 0004, made unique per station."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("charging_sessions", "0004_start_key_with_id_tag_refused_starts"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="transaction",
            constraint=models.UniqueConstraint(fields=("station", "start_key"), name="unique_transaction_start"),
        ),
    ]
