"""Every session known by the transaction id its station uses: sessions the CSMS numbered (OCPP 1.6) get
str(id), the one they were handed; and the idToken's type beside the idTag (1.6 idTags: "ISO14443")."""

from django.db import migrations, models

TABLE = "charging_sessions_transaction"

# An unmatched stop may already hold, on its station, the id a session numbered by the CSMS gets now. Stops
# for that id found the numbered session first, so it keeps the id; the unmatched one is renamed, its id kept
# visible ("<sent>#<its own key>").
STATION_IDS = f"""
UPDATE {TABLE} u SET ocpp_transaction_id = left(u.ocpp_transaction_id, 35 - length(u.id::text)) || '#' || u.id
WHERE u.status = 'unmatched' AND EXISTS (
    SELECT 1 FROM {TABLE} t
    WHERE t.station_id = u.station_id AND t.ocpp_transaction_id IS NULL AND t.id::text = u.ocpp_transaction_id
);
UPDATE {TABLE} SET ocpp_transaction_id = id::text WHERE ocpp_transaction_id IS NULL;
UPDATE {TABLE} SET id_token_type = 'ISO14443' WHERE id_tag <> '';
"""
# Back to where only unmatched stops held a station-side id (renamed ones keep their new name).
NO_STATION_IDS = f"UPDATE {TABLE} SET ocpp_transaction_id = NULL WHERE ocpp_transaction_id = id::text AND status <> 'unmatched';"


class Migration(migrations.Migration):
    dependencies = [
        ("charging_sessions", "0005_unique_start_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="transaction",
            name="id_token_type",
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.RunSQL(STATION_IDS, NO_STATION_IDS),
    ]
