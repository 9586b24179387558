"""Maintenance jobs against simulated stations over real sockets: each command's round trip, bulk outcomes,
offline and silent stations, firmware updates and diagnostics uploads to the end, a real Celery worker."""

import asyncio
import os
import subprocess
import sys
import time

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from cms.celery import app as celery_app
from monitoring import maintenance
from monitoring.models import MaintenanceJob, MaintenanceTarget
from simulator.ocpp16 import CONFIGURATION
from stations.models import ConfigurationKey, Site, Station, StationCommand
from tests.conftest import ROOT, _database_url
from tests.factories import STATION_PASSWORD
from tests.monitoring.support import client_for, register, simulated
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

Kind = MaintenanceJob.Kind


@sync_to_async
def run_job(kind, stations, params=None, user=None, firmware=None) -> MaintenanceJob:
    """Create the job; with Celery in-process it runs when the creation commits, before this returns."""
    job = maintenance.maintenance_job_create(
        kind=kind, stations=stations, params=params or {}, created_by=user, firmware=firmware
    )
    job.refresh_from_db()
    return job


@sync_to_async
def targets_of(job) -> list[MaintenanceTarget]:
    maintenance.maintenance_jobs_refresh(job=job)
    return list(job.targets.select_related("station", "command").order_by("station__ocpp_id"))


@sync_to_async
def job_status(job) -> str:
    maintenance.maintenance_jobs_refresh(job=job)
    job.refresh_from_db()
    return job.status


async def finished(job) -> str | None:
    """The job's final status, once it has one."""
    status = await job_status(job)
    return status if status in ("succeeded", "partial", "failed", "cancelled") else None


async def test_each_maintenance_command_round_trips_to_a_simulated_station(daphne_server, technician):
    station = await register("SIM-M1")
    cases = [
        (
            Kind.GET_CONFIGURATION,
            {"keys": ["HeartbeatInterval", "NoSuchKey"]},
            "succeeded",
            "1 key read. Unknown to the station: NoSuchKey.",
        ),
        (Kind.GET_CONFIGURATION, {}, "succeeded", f"{len(CONFIGURATION)} keys read."),
        (Kind.CHANGE_CONFIGURATION, {"key": "MeterValueSampleInterval", "value": "30"}, "succeeded", "Accepted"),
        (
            Kind.CHANGE_CONFIGURATION,
            {"key": "NumberOfConnectors", "value": "4"},
            "rejected",
            "The station answered Rejected.",
        ),
        (Kind.CHANGE_AVAILABILITY, {"connector_id": 2, "type": "Inoperative"}, "succeeded", "Accepted"),
        (Kind.TRIGGER_MESSAGE, {"requested_message": "StatusNotification", "connector_id": 1}, "succeeded", "Accepted"),
        (Kind.CLEAR_CACHE, {}, "succeeded", "Accepted"),
        (Kind.UNLOCK, {"connector_id": 1}, "succeeded", "Unlocked"),
        (Kind.UNLOCK, {"connector_id": 9}, "rejected", "The station answered NotSupported."),
        (Kind.RESET, {"type": "Soft"}, "succeeded", "Accepted"),
    ]
    async with simulated(daphne_server, ["SIM-M1"], connectors=2) as simulation:
        simulated_station = simulation.stations[0]
        for kind, params, status, detail in cases:
            job = await run_job(kind, [station], params, user=technician)
            (target,) = await targets_of(job)
            assert (target.status, target.detail) == (status, detail), kind
            assert job.status == ("succeeded" if status == "succeeded" else "failed"), kind
            assert target.command.requested_by_id == technician.pk and target.finished_at is not None
        # What the commands did, on the station and in what we know of it.
        assert simulated_station.configuration["MeterValueSampleInterval"] == "30"
        assert not simulated_station.connectors[2].operative
        await until(lambda: simulated_station.stats.boots == 2, what="the reboot after the reset")
    known = await sync_to_async(dict)(ConfigurationKey.objects.filter(station=station).values_list("key", "value"))
    assert len(known) == len(CONFIGURATION)
    assert known["MeterValueSampleInterval"] == "30" and known["HeartbeatInterval"] == "300"
    assert "NumberOfConnectors" in known and known["NumberOfConnectors"] == "2"  # the rejected change is not kept


async def test_a_command_to_an_offline_station_fails_at_once(make_station):
    never = await sync_to_async(make_station)(ocpp_id="CP-NEVER")
    gone = await sync_to_async(make_station)(ocpp_id="CP-GONE")
    await Station.objects.filter(pk=gone.pk).aupdate(ocpp_version="1.6", is_online=False)
    started = time.monotonic()
    job = await run_job(Kind.RESET, [never, gone], {"type": "Hard"})
    assert time.monotonic() - started < 2
    outcomes = [(t.station.ocpp_id, t.status, t.detail) for t in await targets_of(job)]
    assert outcomes == [
        ("CP-GONE", "offline", "The station is not connected."),
        ("CP-NEVER", "offline", "The station has never connected."),
    ]
    assert job.status == "failed"


class SilentStation(ChargePoint):
    """Takes the Reset and never answers it."""

    @on(Action.reset)
    async def on_reset(self, type, **_):
        await asyncio.sleep(30)
        return call_result.Reset(status="Accepted")


async def test_a_station_that_never_answers_times_out_and_the_job_says_so(daphne_server, make_station):
    station = await sync_to_async(make_station)(ocpp_id="CP-SILENT")
    async with ocpp_connection(daphne_server, "CP-SILENT", STATION_PASSWORD, client_class=SilentStation):
        await until(lambda: Station.objects.filter(pk=station.pk, is_online=True).aexists())
        started = time.monotonic()
        job = await run_job(Kind.RESET, [station], {"type": "Soft", "timeout": 1})
        elapsed = time.monotonic() - started
    (target,) = await targets_of(job)
    assert (target.status, target.detail) == ("timeout", "The station did not answer within 1 s.")
    assert job.status == "failed" and elapsed < 4
    assert target.command.status == "timeout"


async def test_a_bulk_job_over_a_site_reports_each_station(daphne_server, technician):
    site = await Site.objects.acreate(name="Harbour")
    for ocpp_id in ("SIM-B1", "SIM-B2", "SIM-B3"):
        await register(ocpp_id, site=site)
    await Station.objects.filter(ocpp_id="SIM-B3").aupdate(ocpp_version="1.6")  # known, but not connected
    client = await sync_to_async(client_for)(technician)
    async with simulated(daphne_server, ["SIM-B1", "SIM-B2"]):
        response = await sync_to_async(client.post)(
            "/api/maintenance/jobs/",
            {"kind": "clear_cache", "selector": {"site": "Harbour"}},
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["url"]
    detail = (await sync_to_async(client.get)(body["url"])).json()
    assert detail["status"] == "partial"
    assert [(t["station"], t["status"]) for t in detail["targets"]] == [
        ("SIM-B1", "succeeded"),
        ("SIM-B2", "succeeded"),
        ("SIM-B3", "offline"),
    ]
    assert detail["counts"] == {"succeeded": 2, "offline": 1}


FIRMWARE = b"\x7fVGFW" + bytes(range(256)) * 40


async def test_a_firmware_roll_out_to_a_model_downloads_over_http_and_installs(daphne_server, files_url, technician):
    for ocpp_id in ("SIM-F1", "SIM-F2", "SIM-F3"):
        await register(ocpp_id)
    await Station.objects.filter(ocpp_id="SIM-F3").aupdate(model="Other AC11")
    client = await sync_to_async(client_for)(technician)
    upload = SimpleUploadedFile("voltgrid-sim-2.0.0.bin", FIRMWARE, content_type="application/octet-stream")
    response = await sync_to_async(client.post)(
        "/operator/firmware/",
        {
            "name": "Simulator",
            "version": "voltgrid-sim-2.0.0",
            "vendor": "Voltgrid",
            "model": "Simulator AC22",
            "file": upload,
        },
    )
    assert response.status_code == 302, response.content
    from monitoring.models import FirmwareImage

    image = await FirmwareImage.objects.aget()
    assert image.size == len(FIRMWARE) and len(image.sha256) == 64

    async with simulated(daphne_server, ["SIM-F1", "SIM-F2"]) as simulation:
        response = await sync_to_async(client.post)(
            "/api/maintenance/jobs/",
            {"kind": "firmware", "firmware": image.pk, "selector": {"model": "Simulator AC22"}},
            content_type="application/json",
        )
        assert response.status_code == 202, response.content
        job = await MaintenanceJob.objects.aget(pk=response.json()["id"])
        await until(lambda: finished(job), what="the job to finish", within=15)
        await until(lambda: all(s.stats.boots == 2 for s in simulation.stations), what="the reboots")
        assert await job_status(job) == "succeeded"
        assert [s.downloaded_firmware for s in simulation.stations] == [FIRMWARE, FIRMWARE]
    targets = await targets_of(job)
    assert [(t.station.ocpp_id, t.status, t.progress, t.downloads) for t in targets] == [
        ("SIM-F1", "succeeded", "Installed", 1),
        ("SIM-F2", "succeeded", "Installed", 1),
    ]
    assert targets[0].detail == "Installed: the station runs firmware voltgrid-sim-2.0.0."
    assert await Station.objects.filter(firmware_version="voltgrid-sim-2.0.0").acount() == 2
    location = targets[0].command.payload["location"]
    assert location.startswith(f"{files_url}/station-files/firmware/SIM-F1/{targets[0].token}/")
    # The link dies with the update.
    answer = await sync_to_async(client.get)(location.removeprefix(files_url))
    assert answer.status_code == 410


async def test_a_failed_firmware_download_fails_the_station_and_opens_an_alert(daphne_server, files_url, technician):
    from monitoring import alerts
    from monitoring.models import FirmwareImage

    station = await register("SIM-F9")
    image = await sync_to_async(maintenance.firmware_upload)(
        file=SimpleUploadedFile("fw-3.bin", FIRMWARE), name="Simulator", version="fw-3"
    )
    await FirmwareImage.objects.filter(pk=image.pk).aupdate(file="firmware/missing.bin")  # the file is gone
    async with simulated(daphne_server, ["SIM-F9"]):
        job = await run_job(Kind.FIRMWARE, [station], firmware=await FirmwareImage.objects.aget(pk=image.pk))
        await until(lambda: finished(job), what="the job to finish")
    (target,) = await targets_of(job)
    assert (target.status, target.detail) == ("failed", "The station reported DownloadFailed.")
    (alert,) = (await sync_to_async(alerts.alerts_evaluate)()).opened
    assert alert.kind == "firmware_failed" and "DownloadFailed" in alert.summary


def bad_files_url(daphne_server, where: str) -> str:
    """A station-files address that fails: nothing listens there, or the server under test has no such path."""
    return "http://127.0.0.1:1" if where == "unreachable" else f"{daphne_server.http_url}/nowhere"


@pytest.mark.parametrize("where", ["unreachable", "wrong path"])
async def test_a_firmware_location_the_station_cannot_download_from_fails_the_job(daphne_server, settings, where):
    settings.CMS_STATION_FILES_URL = bad_files_url(daphne_server, where)
    station = await register("SIM-F8")
    image = await sync_to_async(maintenance.firmware_upload)(
        file=SimpleUploadedFile("fw-4.bin", FIRMWARE), name="Simulator", version="fw-4"
    )
    async with simulated(daphne_server, ["SIM-F8"]) as simulation:
        job = await run_job(Kind.FIRMWARE, [station], firmware=image)
        assert await until(lambda: finished(job), what="the job to finish") == "failed"
        assert (simulation.stations[0].firmware_version, simulation.stations[0].stats.boots) == ("1.0.0", 1)
    (target,) = await targets_of(job)
    assert (target.status, target.progress, target.detail) == (
        "failed",
        "DownloadFailed",
        "The station reported DownloadFailed.",
    )
    assert target.downloads == 0
    assert await Station.objects.filter(pk=station.pk, firmware_version="1.0.0").aexists()


async def test_firmware_for_another_model_is_not_sent(make_station):
    station = await sync_to_async(make_station)(ocpp_id="CP-AC11")
    await Station.objects.filter(pk=station.pk).aupdate(
        vendor="Voltgrid", model="AC11", ocpp_version="1.6", is_online=True, channel_name="nowhere"
    )
    image = await sync_to_async(maintenance.firmware_upload)(
        file=SimpleUploadedFile("ac22.bin", FIRMWARE), name="AC22", version="2", vendor="Voltgrid", model="AC22"
    )
    job = await run_job(Kind.FIRMWARE, [station], firmware=image)
    (target,) = await targets_of(job)
    assert (target.status, target.detail) == (
        "failed",
        "The firmware is for model 'AC22'; this station is 'AC11'. Not sent.",
    )
    assert not await StationCommand.objects.aexists()


async def test_a_diagnostics_upload_reaches_us_and_the_technician_downloads_it(
    daphne_server, files_url, technician, analyst
):
    station = await register("SIM-D1")
    async with simulated(daphne_server, ["SIM-D1"]):
        job = await run_job(Kind.DIAGNOSTICS, [station], user=technician)
        await until(lambda: finished(job), what="the upload")
    (target,) = await targets_of(job)
    assert target.status == "succeeded" and target.file_name.startswith("diagnostics-SIM-D1-")
    assert target.detail == f"Received {target.file_name} ({target.file_size} bytes)."
    assert target.command.payload["location"] == f"{files_url}/station-files/diagnostics/SIM-D1/{target.token}/"

    client, other = await sync_to_async(client_for)(technician), await sync_to_async(client_for)(analyst)
    response = await sync_to_async(client.get)(f"/operator/maintenance/files/{target.pk}/")
    content = b"".join(response.streaming_content)
    assert response.status_code == 200 and b"SIM-D1 Voltgrid Simulator AC22" in content
    assert len(content) == target.file_size
    api = await sync_to_async(client.get)(f"/api/maintenance/jobs/{job.pk}/")
    assert api.json()["targets"][0]["diagnostics_url"].endswith(
        f"/api/maintenance/jobs/{job.pk}/targets/SIM-D1/diagnostics/"
    )
    assert (await sync_to_async(other.get)(f"/operator/maintenance/files/{target.pk}/")).status_code == 403


@pytest.mark.parametrize("where", ["unreachable", "wrong path"])
async def test_a_diagnostics_upload_that_fails_fails_the_job_without_waiting(daphne_server, settings, where):
    settings.CMS_STATION_FILES_URL = bad_files_url(daphne_server, where)
    station = await register("SIM-D2")
    async with simulated(daphne_server, ["SIM-D2"]):
        job = await run_job(Kind.DIAGNOSTICS, [station])
        assert await until(lambda: finished(job), what="the job to fail") == "failed"
    (target,) = await targets_of(job)
    assert (target.status, target.progress, target.detail) == (
        "failed",
        "UploadFailed",
        "The station reported UploadFailed.",
    )
    assert not target.file and target.file_received_at is None


async def test_a_job_run_again_sends_nothing_twice(daphne_server):
    station = await register("SIM-R1")
    async with simulated(daphne_server, ["SIM-R1"]):
        job = await run_job(Kind.CLEAR_CACHE, [station])
        await sync_to_async(maintenance.maintenance_job_run)(job_id=job.pk)  # a redelivered task
    assert await StationCommand.objects.acount() == 1
    assert await job_status(job) == "succeeded"


def test_a_cancelled_job_sends_nothing(make_station):
    station = make_station(ocpp_id="CP-C1")
    celery_app.conf.task_always_eager = False
    try:
        job = MaintenanceJob.objects.create(kind=Kind.RESET, params={"type": "Soft"})
        MaintenanceTarget.objects.create(job=job, station=station)
        maintenance.maintenance_job_cancel(job=job, user=None)
        maintenance.maintenance_job_run(job_id=job.pk)
    finally:
        celery_app.conf.task_always_eager = True
    job.refresh_from_db()
    assert job.status == "cancelled" and job.finished_at is not None
    assert job.targets.get().status == "cancelled" and not StationCommand.objects.exists()


@pytest.fixture
def worker():
    """A real Celery worker process on the test Redis, taking the default queue."""
    celery_app.conf.task_always_eager = False
    env = {**os.environ, "DATABASE_URL": _database_url(), "DATABASE_CONN_MAX_AGE": "0"}
    log = open(ROOT / "var" / "test-monitoring-worker.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cms.celery",
            "worker",
            "--pool",
            "solo",
            "-Q",
            "celery",
            "-n",
            "monitoring-test@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    process.wait(timeout=30)
    log.close()


async def test_a_job_runs_in_a_real_celery_worker(daphne_server, worker, technician):
    station = await register("SIM-W1")
    async with simulated(daphne_server, ["SIM-W1"]):
        job = await run_job(Kind.TRIGGER_MESSAGE, [station], {"requested_message": "Heartbeat"}, user=technician)
        assert job.status == "queued"  # the request returns at once; the worker does the rest
        await until(lambda: finished(job), within=30, what="the worker to run the job")
        assert await job_status(job) == "succeeded"
    (target,) = await targets_of(job)
    assert (target.status, target.command.action) == ("succeeded", "TriggerMessage")


def test_a_job_lost_by_the_broker_is_queued_again_once_and_a_dead_worker_target_fails(make_station):
    from datetime import timedelta

    from django.utils import timezone

    station = make_station(ocpp_id="CP-LOST")
    long_ago = timezone.now() - timedelta(minutes=11)
    lost = MaintenanceJob.objects.create(kind=Kind.CLEAR_CACHE, dispatched_at=long_ago)
    MaintenanceTarget.objects.create(job=lost, station=station)
    waiting = MaintenanceJob.objects.create(kind=Kind.CLEAR_CACHE, dispatched_at=timezone.now())
    MaintenanceTarget.objects.create(job=waiting, station=station)
    assert maintenance.maintenance_jobs_requeue_lost() == [lost.pk]  # run here: Celery is in-process
    lost.refresh_from_db()
    assert lost.status == "failed" and lost.targets.get().status == "offline"
    assert maintenance.maintenance_jobs_requeue_lost() == []

    stuck = MaintenanceJob.objects.create(kind=Kind.RESET, status="running", started_at=long_ago)
    MaintenanceTarget.objects.create(job=stuck, station=station, status="running", started_at=long_ago)
    assert maintenance.maintenance_jobs_refresh() == 1
    stuck.refresh_from_db()
    assert stuck.status == "failed"
    assert stuck.targets.get().detail.startswith("The worker sending this command stopped")
