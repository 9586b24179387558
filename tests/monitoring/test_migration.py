"""The move of alerts, maintenance jobs and firmware images from the stations app to monitoring keeps the rows,
and the permissions given on them, of a database made before it."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.roles import Role
from monitoring.models import Alert, FirmwareImage, MaintenanceJob, MaintenanceTarget

BEFORE = [("stations", "0005_node_leases")]
MOVED = ["alert", "alertchannel", "alertdelivery", "alertevent", "firmwareimage", "maintenancejob", "maintenancetarget"]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    ContentType.objects.clear_cache()
    return executor


def latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_an_existing_database_keeps_its_rows_and_permissions_when_the_models_move(django_user_model):
    old_apps = migrate(BEFORE).loader.project_state(BEFORE).apps
    with pytest.raises(LookupError):
        old_apps.get_model("monitoring", "Alert")
    # Before the move the content types are the stations app's, and the roles' permissions hang on them.
    assert set(ContentType.objects.filter(model__in=MOVED).values_list("app_label", flat=True)) == {"stations"}
    view_alert = Permission.objects.get(content_type__app_label="stations", codename="view_alert")
    technicians = Group.objects.get(name=Role.TECHNICIAN.value)
    assert technicians.permissions.filter(pk=view_alert.pk).exists()
    watcher = django_user_model.objects.create_user(email="watcher@example.com", password="x")
    watcher.user_permissions.add(Permission.objects.get(content_type__app_label="stations", codename="change_alert"))

    OldStation = old_apps.get_model("stations", "Station")
    station = OldStation.objects.create(ocpp_id="MIG-1")
    alert = old_apps.get_model("stations", "Alert").objects.create(
        station=station, kind="offline", severity="critical", summary="Offline since noon", opened_at=timezone.now()
    )
    firmware = old_apps.get_model("stations", "FirmwareImage").objects.create(
        name="Wallbox", version="2.1", file="firmware/2026/12/wallbox-2.1.bin", size=3, sha256="ab" * 32
    )
    job = old_apps.get_model("stations", "MaintenanceJob").objects.create(kind="firmware", firmware=firmware)
    target = old_apps.get_model("stations", "MaintenanceTarget").objects.create(job=job, station=station, token="t0k")

    migrate(latest())

    assert Alert.objects.get(pk=alert.pk).summary == "Offline since noon"
    assert Alert.objects.get(pk=alert.pk).station.ocpp_id == "MIG-1"
    moved_job = MaintenanceJob.objects.get(pk=job.pk)
    assert moved_job.firmware == FirmwareImage.objects.get(pk=firmware.pk)
    assert list(moved_job.stations.values_list("ocpp_id", flat=True)) == ["MIG-1"]
    assert MaintenanceTarget.objects.get(pk=target.pk).token == "t0k"
    # The same permission rows, now under the monitoring label: groups and users keep what they had.
    assert set(ContentType.objects.filter(model__in=MOVED).values_list("app_label", flat=True)) == {"monitoring"}
    assert Permission.objects.get(pk=view_alert.pk).content_type.app_label == "monitoring"
    assert technicians.permissions.filter(content_type__app_label="monitoring", codename="view_alert").exists()
    watcher = django_user_model.objects.get(pk=watcher.pk)
    assert watcher.has_perm("monitoring.change_alert")
    assert not watcher.has_perm("stations.change_alert")
