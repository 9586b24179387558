"""The stations' side of maintenance: firmware downloads and diagnostics uploads, only with the right token,
for the right station, while the request is open, within the size limit."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from monitoring import maintenance
from monitoring.models import MaintenanceJob, MaintenanceTarget

Kind = MaintenanceJob.Kind
Status = MaintenanceTarget.Status


@pytest.fixture
def stations(make_station):
    return make_station(ocpp_id="CP-U1"), make_station(ocpp_id="CP-U2")


def waiting_target(station, kind, **fields) -> MaintenanceTarget:
    """A target whose command the station has accepted (as the job runner leaves it)."""
    job = MaintenanceJob.objects.create(
        kind=kind, status=MaintenanceJob.Status.RUNNING, started_at=timezone.now(), **fields
    )
    return MaintenanceTarget.objects.create(
        job=job,
        station=station,
        status=Status.WAITING,
        token=f"token-{kind}-{station.ocpp_id}",
        started_at=timezone.now(),
    )


def upload_url(ocpp_id, token, name=""):
    return f"/station-files/diagnostics/{ocpp_id}/{token}/{name}"


@pytest.fixture
def small_limit(settings):
    settings.CMS_DIAGNOSTICS_MAX_BYTES = 1000


def test_a_raw_upload_is_kept_and_finishes_the_station(stations, small_limit):
    target = waiting_target(stations[0], Kind.DIAGNOSTICS)
    response = Client().put(
        upload_url("CP-U1", target.token, "diag.log"), b"line\n" * 10, content_type="application/octet-stream"
    )
    assert response.status_code == 201
    target.refresh_from_db()
    assert (target.status, target.file_name, target.file_size, target.progress) == (
        "succeeded",
        "diag.log",
        50,
        "Uploaded",
    )
    assert target.file.read() == b"line\n" * 10
    target.job.refresh_from_db()
    assert target.job.status == "succeeded"
    # One upload per request.
    again = Client().put(upload_url("CP-U1", target.token), b"more", content_type="application/octet-stream")
    assert again.status_code == 409


def test_a_multipart_upload_is_kept_under_its_file_name(stations):
    target = waiting_target(stations[0], Kind.DIAGNOSTICS)
    response = Client().post(upload_url("CP-U1", target.token), {"file": SimpleUploadedFile("../../etc/x.log", b"ok")})
    assert response.status_code == 201
    target.refresh_from_db()
    assert target.file_name == "x.log" and "/etc/" not in target.file.name


@pytest.mark.parametrize(
    ("ocpp_id", "token", "status"),
    [("CP-U1", "token-diagnostics-CP-U9", 404), ("CP-U2", "token-diagnostics-CP-U1", 404), ("CP-U1", "", 404)],
)
def test_an_upload_with_a_wrong_token_or_for_another_station_is_refused(stations, ocpp_id, token, status):
    target = waiting_target(stations[0], Kind.DIAGNOSTICS)
    url = upload_url(ocpp_id, token) if token else f"/station-files/diagnostics/{ocpp_id}//"
    response = Client().put(url, b"data", content_type="application/octet-stream")
    assert response.status_code == status
    target.refresh_from_db()
    assert target.status == "waiting" and not target.file


def test_an_upload_too_large_is_refused_and_nothing_is_kept(stations, small_limit):
    target = waiting_target(stations[0], Kind.DIAGNOSTICS)
    response = Client().put(upload_url("CP-U1", target.token), b"x" * 1001, content_type="application/octet-stream")
    assert response.status_code == 413
    assert response.content.decode() == "The file is larger than 1000 bytes."
    multipart = Client().post(upload_url("CP-U1", target.token), {"file": SimpleUploadedFile("d.log", b"x" * 5000)})
    assert multipart.status_code == 413
    target.refresh_from_db()
    assert target.status == "waiting" and not target.file
    # Within the limit it is taken.
    assert (
        Client()
        .put(upload_url("CP-U1", target.token), b"x" * 1000, content_type="application/octet-stream")
        .status_code
        == 201
    )


def test_a_raw_body_without_a_length_is_cut_off_at_the_limit(stations, small_limit, rf):
    from monitoring.views import diagnostics_upload

    target = waiting_target(stations[0], Kind.DIAGNOSTICS)
    request = rf.put(upload_url("CP-U1", target.token), b"x" * 3000, content_type="application/octet-stream")
    del request.META["CONTENT_LENGTH"]  # a chunked upload announces no length
    response = diagnostics_upload(request, ocpp_id="CP-U1", token=target.token)
    assert response.status_code == 413
    target.refresh_from_db()
    assert not target.file


def test_an_upload_after_the_request_ended_or_empty_is_refused(stations):
    target = waiting_target(stations[0], Kind.DIAGNOSTICS)
    assert (
        Client().put(upload_url("CP-U1", target.token), b"", content_type="application/octet-stream").status_code == 400
    )
    maintenance.maintenance_job_cancel(job=target.job, user=None)
    response = Client().put(upload_url("CP-U1", target.token), b"late", content_type="application/octet-stream")
    assert response.status_code == 410


def test_the_upload_endpoint_takes_no_get_and_needs_no_csrf_token(stations):
    target = waiting_target(stations[0], Kind.DIAGNOSTICS)
    client = Client(enforce_csrf_checks=True)
    assert client.get(upload_url("CP-U1", target.token)).status_code == 405
    assert client.post(upload_url("CP-U1", target.token), {"f": SimpleUploadedFile("a.log", b"a")}).status_code == 201


@pytest.fixture
def firmware(db):
    return maintenance.firmware_upload(
        file=SimpleUploadedFile("fw-9.bin", b"FIRMWARE" * 100), name="FW", version="fw-9"
    )


def test_the_station_downloads_its_firmware_with_its_token(stations, firmware):
    target = waiting_target(stations[0], Kind.FIRMWARE, firmware=firmware)
    url = f"/station-files/firmware/CP-U1/{target.token}/fw-9.bin"
    response = Client().get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"FIRMWARE" * 100
    assert response["X-Checksum-SHA256"] == firmware.sha256
    assert Client().head(url).status_code == 200
    target.refresh_from_db()
    assert (target.downloads, target.progress) == (2, "Downloading")
    assert maintenance.target_percent(target) == 25


def test_a_firmware_download_for_another_station_or_after_the_update_is_refused(stations, firmware):
    target = waiting_target(stations[0], Kind.FIRMWARE, firmware=firmware)
    assert Client().get(f"/station-files/firmware/CP-U2/{target.token}/fw-9.bin").status_code == 404
    assert Client().get("/station-files/firmware/CP-U1/guessed-token/fw-9.bin").status_code == 404
    # A diagnostics token is no firmware token.
    diagnostics = waiting_target(stations[0], Kind.DIAGNOSTICS)
    assert Client().get(f"/station-files/firmware/CP-U1/{diagnostics.token}/fw-9.bin").status_code == 404
    MaintenanceTarget.objects.filter(pk=target.pk).update(status=Status.SUCCEEDED)
    assert Client().get(f"/station-files/firmware/CP-U1/{target.token}/fw-9.bin").status_code == 410


def test_a_firmware_update_not_installed_in_time_fails(stations, firmware, settings):
    settings.CMS_FIRMWARE_WAIT_HOURS = 1
    target = waiting_target(stations[0], Kind.FIRMWARE, firmware=firmware)
    maintenance.maintenance_jobs_refresh(now=timezone.now() + timezone.timedelta(minutes=59))
    target.refresh_from_db()
    assert target.status == "waiting"
    maintenance.maintenance_jobs_refresh(now=timezone.now() + timezone.timedelta(minutes=61))
    target.refresh_from_db()
    assert (target.status, target.detail) == ("failed", "Not installed within 1 h (last reported: nothing).")
    target.job.refresh_from_db()
    assert target.job.status == "failed"


def test_firmware_uploads_are_checked(db, settings):
    settings.CMS_FIRMWARE_MAX_BYTES = 10
    with pytest.raises(maintenance.MaintenanceError, match="larger than 10 bytes"):
        maintenance.firmware_upload(file=SimpleUploadedFile("big.bin", b"x" * 11), name="x", version="1")
    with pytest.raises(maintenance.MaintenanceError, match="empty"):
        maintenance.firmware_upload(file=SimpleUploadedFile("empty.bin", b""), name="x", version="1")
