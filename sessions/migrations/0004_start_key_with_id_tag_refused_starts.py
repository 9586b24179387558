"""The StartTransaction replay key includes everything the station sent (the idTag above all), and refused
starts that were stored as active sessions become refused: they locked their tag with ConcurrentTx."""

from datetime import UTC, datetime, timedelta

from django.db import migrations, models

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def start_key(session) -> str:
    # The same key as sessions.services.start_key, frozen here as this migration's own copy.
    sent_at = (session.started_at - EPOCH) // timedelta(microseconds=1)
    reservation = "" if session.reservation_id is None else session.reservation_id
    return f"{session.connector_id}|{sent_at}|{session.meter_start}|{reservation}|{session.id_tag}"


def fill_start_keys(apps, schema_editor):
    Transaction = apps.get_model("charging_sessions", "Transaction")
    starts = Transaction.objects.exclude(status="unmatched").only(
        "connector_id", "started_at", "meter_start", "reservation_id", "id_tag"
    )
    batch = []
    for session in starts.iterator(chunk_size=2000):
        session.start_key = start_key(session)
        batch.append(session)
        if len(batch) == 2000:
            Transaction.objects.bulk_update(batch, ["start_key"])
            batch = []
    Transaction.objects.bulk_update(batch, ["start_key"])


def refuse_refused_starts(apps, schema_editor):
    Transaction = apps.get_model("charging_sessions", "Transaction")
    refused = Transaction.objects.filter(status="active").exclude(authorization_status__in=["Accepted", ""])
    refused.filter(stopped_at__isnull=True).update(stopped_at=models.F("started_at"))
    refused.update(status="refused")


class Migration(migrations.Migration):
    dependencies = [
        ("charging_sessions", "0003_anomalies_refused_starts"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="transaction", name="unique_transaction_start"),
        migrations.AddField(
            model_name="transaction",
            name="start_key",
            field=models.CharField(blank=True, editable=False, max_length=120, null=True),
        ),
        migrations.RunPython(fill_start_keys, migrations.RunPython.noop),
        migrations.RunPython(refuse_refused_starts, migrations.RunPython.noop),
        # The new unique key is added by 0005: PostgreSQL alters no table with updates pending in its transaction.
    ]
