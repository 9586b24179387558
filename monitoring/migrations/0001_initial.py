"""The monitoring app takes over the stations app's alerts, maintenance jobs and firmware images.

Their tables keep their names and rows (``db_table``): on a database that has them, this migration
changes the migration state only, and moves the models' content types to the new app label, so the
permissions given to groups and users (the staff roles') stay theirs. On a new database
``stations.0004`` creates the tables and ``stations.0006`` hands them over.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = [
    "alert", "alertchannel", "alertdelivery", "alertevent", "firmwareimage", "maintenancejob", "maintenancetarget",
]


def move_content_types(from_label: str, to_label: str):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        types = ContentType.objects.using(schema_editor.connection.alias)
        moving = types.filter(app_label=from_label, model__in=MODELS)
        # A content type made for the new label meanwhile has no history: the old one's permissions win.
        types.filter(app_label=to_label, model__in=moving.values("model")).delete()
        moving.update(app_label=to_label)

    return move


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('charging_sessions', '0002_unmatched_stops_signed_samples_replay_keys'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('stations', '0006_move_monitoring_models_out'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Alert',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('offline', 'Station offline'), ('connector_fault', 'Connector fault'), ('stuck_session', 'Stuck session'), ('firmware_failed', 'Firmware update failed'), ('security_event', 'Security event')], max_length=24)),
                        ('severity', models.CharField(choices=[('critical', 'Critical'), ('warning', 'Warning'), ('info', 'Info')], default='warning', max_length=16)),
                        ('subject', models.CharField(blank=True, help_text="What within the station: 'connector:2', 'transaction:17', an event type.", max_length=64)),
                        ('connector_id', models.PositiveIntegerField(blank=True, null=True)),
                        ('summary', models.CharField(max_length=255)),
                        ('details', models.JSONField(blank=True, default=dict)),
                        ('opened_at', models.DateTimeField()),
                        ('closed_at', models.DateTimeField(blank=True, null=True)),
                        ('close_reason', models.CharField(blank=True, max_length=120)),
                        ('acknowledged_at', models.DateTimeField(blank=True, null=True)),
                        ('acknowledged_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('station', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='alerts', to='stations.station')),
                        ('transaction', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='alerts', to='charging_sessions.transaction')),
                    ],
                    options={
                        'db_table': 'stations_alert',
                        'ordering': ['-opened_at'],
                    },
                ),
                migrations.CreateModel(
                    name='AlertChannel',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=120, unique=True)),
                        ('kind', models.CharField(choices=[('email', 'E-mail'), ('webhook', 'Webhook')], max_length=16)),
                        ('emails', models.TextField(blank=True, help_text='The on-call list: addresses separated by commas or new lines.')),
                        ('url', models.URLField(blank=True, max_length=500, verbose_name='webhook URL')),
                        ('secret', models.CharField(blank=True, help_text='Signs each webhook body: header X-Voltgrid-Signature: sha256=<HMAC>.', max_length=128)),
                        ('alert_kinds', models.JSONField(blank=True, default=list, help_text='Only these kinds (e.g. ["offline", "connector_fault"]); empty for all.')),
                        ('min_severity', models.CharField(choices=[('critical', 'Critical'), ('warning', 'Warning'), ('info', 'Info')], default='warning', help_text='Alerts at least this severe are sent.', max_length=16)),
                        ('notify_on_close', models.BooleanField(default=True, help_text='Also send a message when an alert closes.')),
                        ('is_active', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('sites', models.ManyToManyField(blank=True, help_text='Only alerts of stations at these sites; none for all.', to='stations.site')),
                    ],
                    options={
                        'db_table': 'stations_alertchannel',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='AlertDelivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('trigger', models.CharField(choices=[('opened', 'Opened'), ('closed', 'Closed')], max_length=16)),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('failed', 'Given up')], default='pending', max_length=16)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('next_attempt_at', models.DateTimeField()),
                        ('last_error', models.TextField(blank=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('alert', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='monitoring.alert')),
                        ('channel', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='monitoring.alertchannel')),
                    ],
                    options={
                        'db_table': 'stations_alertdelivery',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='AlertEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('opened', 'Opened'), ('changed', 'Changed'), ('repeated', 'Repeated'), ('notified', 'Notified'), ('notification_failed', 'Notification failed'), ('acknowledged', 'Acknowledged'), ('closed', 'Closed')], max_length=24)),
                        ('message', models.CharField(blank=True, max_length=255)),
                        ('data', models.JSONField(blank=True, default=dict)),
                        ('at', models.DateTimeField()),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('alert', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='monitoring.alert')),
                    ],
                    options={
                        'db_table': 'stations_alertevent',
                        'ordering': ['at', 'pk'],
                    },
                ),
                migrations.CreateModel(
                    name='FirmwareImage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=120)),
                        ('version', models.CharField(help_text='The version the station reports in BootNotification once it runs this firmware.', max_length=50)),
                        ('file', models.FileField(upload_to='firmware/%Y/%m/')),
                        ('size', models.BigIntegerField(help_text='Bytes')),
                        ('sha256', models.CharField(max_length=64, verbose_name='SHA-256')),
                        ('vendor', models.CharField(blank=True, help_text='The station vendor it is meant for.', max_length=50)),
                        ('model', models.CharField(blank=True, help_text='The station model it is meant for.', max_length=50)),
                        ('notes', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('uploaded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'stations_firmwareimage',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='MaintenanceJob',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('reset', 'Reset'), ('unlock', 'Unlock connector'), ('change_availability', 'Change availability'), ('get_configuration', 'Get configuration'), ('change_configuration', 'Change configuration'), ('trigger_message', 'Trigger message'), ('clear_cache', 'Clear cache'), ('diagnostics', 'Diagnostics upload'), ('firmware', 'Firmware update')], max_length=24)),
                        ('params', models.JSONField(blank=True, default=dict)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('partial', 'Partly succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=16)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('dispatched_at', models.DateTimeField(blank=True, help_text='When it was last queued for a worker.', null=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('firmware', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='jobs', to='monitoring.firmwareimage')),
                    ],
                    options={
                        'db_table': 'stations_maintenancejob',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='MaintenanceTarget',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Sending'), ('waiting', 'In progress on the station'), ('succeeded', 'Succeeded'), ('rejected', 'Rejected by the station'), ('failed', 'Failed'), ('offline', 'Offline'), ('timeout', 'No answer'), ('cancelled', 'Cancelled')], default='pending', max_length=16)),
                        ('detail', models.TextField(blank=True)),
                        ('result', models.JSONField(blank=True, null=True)),
                        ('progress', models.CharField(blank=True, help_text="The station's last reported stage.", max_length=32)),
                        ('progress_at', models.DateTimeField(blank=True, null=True)),
                        ('token', models.CharField(blank=True, editable=False, max_length=64, null=True, unique=True)),
                        ('downloads', models.PositiveIntegerField(default=0)),
                        ('downloaded_at', models.DateTimeField(blank=True, null=True)),
                        ('file', models.FileField(blank=True, upload_to='diagnostics/%Y/%m/')),
                        ('file_name', models.CharField(blank=True, max_length=255)),
                        ('file_size', models.BigIntegerField(blank=True, null=True)),
                        ('file_received_at', models.DateTimeField(blank=True, null=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('command', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='stations.stationcommand')),
                        ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='targets', to='monitoring.maintenancejob')),
                        ('station', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='maintenance_targets', to='stations.station')),
                    ],
                    options={
                        'db_table': 'stations_maintenancetarget',
                        'ordering': ['job', 'station__ocpp_id'],
                    },
                ),
                migrations.AddField(
                    model_name='maintenancejob',
                    name='stations',
                    field=models.ManyToManyField(related_name='maintenance_jobs', through='monitoring.MaintenanceTarget', to='stations.station'),
                ),
                migrations.AddIndex(
                    model_name='alert',
                    index=models.Index(fields=['closed_at', '-opened_at'], name='stations_al_closed__239fa8_idx'),
                ),
                migrations.AddIndex(
                    model_name='alert',
                    index=models.Index(fields=['station', '-opened_at'], name='stations_al_station_0f849f_idx'),
                ),
                migrations.AddConstraint(
                    model_name='alert',
                    constraint=models.UniqueConstraint(condition=models.Q(('closed_at__isnull', True)), fields=('station', 'kind', 'subject'), name='one_open_alert_per_condition'),
                ),
                migrations.AddIndex(
                    model_name='alertdelivery',
                    index=models.Index(fields=['status', 'next_attempt_at'], name='stations_al_status_bc0b87_idx'),
                ),
                migrations.AddConstraint(
                    model_name='alertdelivery',
                    constraint=models.UniqueConstraint(fields=('alert', 'channel', 'trigger'), name='one_delivery_per_alert_channel_trigger'),
                ),
                migrations.AddIndex(
                    model_name='maintenancetarget',
                    index=models.Index(fields=['status'], name='stations_ma_status_887fc2_idx'),
                ),
                migrations.AddConstraint(
                    model_name='maintenancetarget',
                    constraint=models.UniqueConstraint(fields=('job', 'station'), name='one_target_per_job_station'),
                ),
                migrations.AddIndex(
                    model_name='maintenancejob',
                    index=models.Index(fields=['status', '-created_at'], name='stations_ma_status_d33283_idx'),
                ),
            ],
        ),
        migrations.RunPython(move_content_types("stations", "monitoring"), move_content_types("monitoring", "stations")),
    ]
