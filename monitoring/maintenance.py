"""Remote maintenance: commands to one or many stations as Celery jobs, with an outcome per station.

``maintenance_job_create`` checks the parameters and records a job with one target per station; a
Celery worker runs it (``maintenance_job_run``), commanding up to CMS_MAINTENANCE_CONCURRENCY stations
at once through ``stations.protocol.commands.station_call``. Each target ends succeeded, rejected (the
station said no), failed, offline or timeout. Firmware updates and diagnostics uploads go on after the
station's answer: the station downloads the firmware from, or uploads its diagnostics to, a URL of this
system with a token of its own target; ``maintenance_jobs_refresh`` (beat, and every read of a job)
follows their progress from the station's status notifications until they finish or run out of time.
A redelivered job task sends nothing twice: each target is claimed before its command is sent.
"""

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction
from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename
from rest_framework import serializers

from monitoring import firmware_signing
from monitoring.alerts import FIRMWARE_FAILURES, alert_security_event
from monitoring.models import FirmwareImage, MaintenanceJob, MaintenanceTarget
from stations.app_settings import app_settings
from stations.models import ConfigurationKey, Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import REPLY_MARGIN, station_call
from stations.protocol.outbound import Unsupported
from stations.protocol.redaction import is_secret, stored_value

logger = logging.getLogger(__name__)

Kind = MaintenanceJob.Kind
JobStatus = MaintenanceJob.Status
TargetStatus = MaintenanceTarget.Status
CommandStatus = StationCommand.Status

UNFINISHED = (TargetStatus.PENDING, TargetStatus.RUNNING, TargetStatus.WAITING)
# Kinds whose work goes on after the station's answer, through a URL of this system with a token.
FILE_KINDS = (Kind.FIRMWARE, Kind.DIAGNOSTICS)
TRIGGERABLE_16 = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)
# A queued job no worker has started after this long is queued again.
REQUEUE_AFTER = timedelta(minutes=10)
# How far a firmware update has come, for the progress bar.
FIRMWARE_STAGES = {"Downloading": 25, "Downloaded": 50, "SignatureVerified": 60, "Installing": 75, "Installed": 100}
# The configuration keys only a 1.6 station with the security extension has (security whitepaper, edition 3): one of
# them known (from a GetConfiguration) tells that it takes SignedUpdateFirmware.
SECURITY_EXTENSION_KEYS = ("SecurityProfile", "CertificateStoreMaxLength", "CertificateSignedMaxChainSize", "CpoName")
# Answers to a signed update refusing the signing certificate; the station should also raise this security event.
CERTIFICATE_REFUSALS = frozenset({"InvalidCertificate", "RevokedCertificate"})
CERTIFICATE_EVENT = "InvalidFirmwareSigningCertificate"
# What a failed status of a signed update means, for the operator.
FIRMWARE_FAILURE_MEANINGS = {
    "InvalidSignature": "the firmware's signature did not verify with its signing certificate; it was not installed",
    "InstallVerificationFailed": "the installed firmware did not verify",
}


class MaintenanceError(ValueError):
    """The job cannot be created as asked; ``errors`` maps a field (or "stations") to its problems."""

    def __init__(self, errors: dict):
        super().__init__("; ".join(f"{name}: {' '.join(map(str, problems))}" for name, problems in errors.items()))
        self.errors = errors


class FileRefused(Exception):
    """A station's download or upload refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# Parameters of each kind, checked the same way for the portal and the API.


class BaseParams(serializers.Serializer):
    timeout = serializers.FloatField(
        required=False,
        min_value=1,
        max_value=300,
        help_text="Seconds each station has to answer; CMS_OCPP_RESPONSE_TIMEOUT when left out.",
    )


class ResetParams(BaseParams):
    type = serializers.ChoiceField(["Soft", "Hard"], default="Soft")


class UnlockParams(BaseParams):
    connector_id = serializers.IntegerField(min_value=1)


class AvailabilityParams(BaseParams):
    connector_id = serializers.IntegerField(min_value=0, default=0, help_text="0 for the whole station.")
    type = serializers.ChoiceField(["Operative", "Inoperative"])


class GetConfigurationParams(BaseParams):
    keys = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        default=list,
        max_length=100,
        help_text="The keys to read; all of them when empty.",
    )


class ChangeConfigurationParams(BaseParams):
    key = serializers.CharField(max_length=50)
    value = serializers.CharField(max_length=500, allow_blank=True, trim_whitespace=False)

    def validate_key(self, key):
        # A job keeps its parameters until a worker sends them: the password would be stored in clear, and the
        # CSMS, not adopting it, would refuse the station at its next connection.
        if is_secret(key):
            raise serializers.ValidationError(
                "This is the station's password: give it a new one with the station's password rotation, which "
                "sends it without storing it and adopts it once the station accepts it."
            )
        return key


class TriggerParams(BaseParams):
    requested_message = serializers.ChoiceField(TRIGGERABLE_16)
    connector_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class DiagnosticsParams(BaseParams):
    start_time = serializers.DateTimeField(required=False, help_text="The oldest log entries wanted.")
    stop_time = serializers.DateTimeField(required=False, help_text="The newest log entries wanted.")
    retries = serializers.IntegerField(min_value=0, max_value=10, required=False)
    retry_interval = serializers.IntegerField(min_value=0, max_value=86_400, required=False, help_text="Seconds.")

    def validate(self, attrs):
        if attrs.get("start_time") and attrs.get("stop_time") and attrs["start_time"] >= attrs["stop_time"]:
            raise serializers.ValidationError({"stop_time": "Must be after the start time."})
        return attrs


class FirmwareParams(BaseParams):
    retrieve_date = serializers.DateTimeField(required=False, help_text="When to download; now when left out.")
    retries = serializers.IntegerField(min_value=0, max_value=10, required=False)
    retry_interval = serializers.IntegerField(min_value=0, max_value=86_400, required=False, help_text="Seconds.")
    allow_model_mismatch = serializers.BooleanField(
        default=False, help_text="Also send it to stations of another vendor or model than the firmware's."
    )
    allow_unsigned = serializers.BooleanField(
        required=False,
        help_text="Signed firmware: send the plain UpdateFirmware to OCPP 1.6 stations without the security "
        "extension (they install it unchecked); else they are left out.",
    )


PARAMS: dict[str, type[serializers.Serializer]] = {
    Kind.RESET: ResetParams,
    Kind.UNLOCK: UnlockParams,
    Kind.CHANGE_AVAILABILITY: AvailabilityParams,
    Kind.GET_CONFIGURATION: GetConfigurationParams,
    Kind.CHANGE_CONFIGURATION: ChangeConfigurationParams,
    Kind.TRIGGER_MESSAGE: TriggerParams,
    Kind.CLEAR_CACHE: BaseParams,
    Kind.DIAGNOSTICS: DiagnosticsParams,
    Kind.FIRMWARE: FirmwareParams,
}


def params_clean(*, kind: str, params: dict) -> dict:
    """The kind's parameters as JSON values, or MaintenanceError with every problem."""
    if kind not in PARAMS:
        raise MaintenanceError({"kind": [f"Not a maintenance command; one of {', '.join(Kind.values)}."]})
    checked = PARAMS[kind](data=params)
    if not checked.is_valid():
        raise MaintenanceError({name: list(problems) for name, problems in checked.errors.items()})
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in checked.validated_data.items()
        if value is not None
    }


# Creating and running jobs


def maintenance_job_create(
    *, kind: str, stations: Iterable[Station], params: dict, created_by=None, firmware: FirmwareImage | None = None
) -> MaintenanceJob:
    """Record the job with a target per station; a Celery worker runs it once the transaction commits."""
    params = params_clean(kind=kind, params=params or {})
    stations = list({station.pk: station for station in stations}.values())
    errors = {}
    if not stations:
        errors["stations"] = ["Choose at least one station."]
    if kind == Kind.FIRMWARE and firmware is None:
        errors["firmware"] = ["Choose the firmware to install."]
    if kind != Kind.FIRMWARE and firmware is not None:
        errors["firmware"] = ["Only a firmware update takes a firmware file."]
    if errors:
        raise MaintenanceError(errors)
    if created_by is not None and not created_by.is_authenticated:
        created_by = None
    with transaction.atomic():
        job = MaintenanceJob.objects.create(kind=kind, params=params, firmware=firmware, created_by=created_by)
        MaintenanceTarget.objects.bulk_create(
            [
                MaintenanceTarget(
                    job=job, station=station, token=secrets.token_urlsafe(24) if kind in FILE_KINDS else None
                )
                for station in stations
            ]
        )
        logger.info(
            "maintenance job created",
            extra={
                "job_id": job.pk,
                "kind": kind,
                "stations": len(stations),
                "user_id": getattr(created_by, "pk", None),
            },
        )
        transaction.on_commit(lambda: _dispatch(job.pk))
    return job


def _dispatch(job_id: int) -> None:
    from monitoring.tasks import run_maintenance_job

    MaintenanceJob.objects.filter(pk=job_id).update(dispatched_at=timezone.now())
    try:
        run_maintenance_job.delay(job_id)
    except Exception:
        # The broker is down: beat's refresh queues the job again.
        logger.warning("maintenance job not queued", exc_info=True, extra={"job_id": job_id})


def maintenance_jobs_requeue_lost(*, now: datetime | None = None) -> list[int]:
    """Queue again the jobs no worker has started long after they were queued (a broker restart lost them).

    A job delivered twice runs once: its targets are claimed before anything is sent.
    """
    cutoff = (now or timezone.now()) - REQUEUE_AFTER
    lost = list(
        MaintenanceJob.objects.filter(status=JobStatus.QUEUED, started_at__isnull=True)
        .filter(Q(dispatched_at__lt=cutoff) | Q(dispatched_at__isnull=True, created_at__lt=cutoff))
        .values_list("pk", flat=True)
    )
    for pk in lost:
        logger.warning("maintenance job queued again", extra={"job_id": pk})
        _dispatch(pk)
    return lost


def maintenance_job_run(*, job_id: int) -> MaintenanceJob:
    """Send the job's commands to its pending stations (a few at a time) and record each outcome."""
    job = MaintenanceJob.objects.select_related("created_by", "firmware").get(pk=job_id)
    if job.status == JobStatus.CANCELLED or job.is_finished:
        return job
    MaintenanceJob.objects.filter(pk=job.pk, started_at__isnull=True).update(started_at=timezone.now())
    MaintenanceJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(status=JobStatus.RUNNING)
    targets = list(job.targets.filter(status=TargetStatus.PENDING).select_related("station"))
    if targets:
        async_to_sync(_run_targets)(job, targets)
    return job_settle(job=job)


async def _run_targets(job: MaintenanceJob, targets: list[MaintenanceTarget]) -> None:
    limit = asyncio.Semaphore(max(1, app_settings.MAINTENANCE_CONCURRENCY))

    async def one(target):
        async with limit:
            try:
                await _run_target(job, target)
            except Exception as error:
                logger.exception("maintenance target failed", extra={"job_id": job.pk, "target_id": target.pk})
                await _finish(target, TargetStatus.FAILED, f"Internal error: {error}")

    await asyncio.gather(*(one(target) for target in targets))


async def _run_target(job: MaintenanceJob, target: MaintenanceTarget) -> None:
    now = timezone.now()
    claimed = await MaintenanceTarget.objects.filter(pk=target.pk, status=TargetStatus.PENDING).aupdate(
        status=TargetStatus.RUNNING, started_at=now
    )
    if not claimed:
        return  # cancelled, or taken by another delivery of the same task
    target.started_at = now
    station = await Station.objects.aget(pk=target.station_id)
    refusal = await sync_to_async(_refusal)(job, target, station)
    if refusal:
        await _finish(target, TargetStatus.FAILED, refusal)
        return
    signed = job.kind == Kind.FIRMWARE and await sync_to_async(firmware_goes_signed)(
        firmware=job.firmware, station=station
    )
    try:
        action, payload = build_call(
            job.kind,
            ocpp_version=station.ocpp_version,
            params=job.params,
            target=target,
            firmware=job.firmware,
            station=station,
            signed=signed,
        )
    except Unsupported as error:
        await _finish(target, TargetStatus.FAILED, str(error))
        return
    command = await station_call(
        station=station, action=action, payload=payload, requested_by=job.created_by, timeout=job.params.get("timeout")
    )
    target.command = command
    status, detail, result = outcome(job.kind, command, ocpp_version=station.ocpp_version)
    if status == TargetStatus.SUCCEEDED and job.kind == Kind.GET_CONFIGURATION:
        keys = outbound.answer_of(station.ocpp_version, command).data["keys"]
        await sync_to_async(configuration_store)(station=station, keys=keys)
    if status == TargetStatus.SUCCEEDED and job.kind == Kind.CHANGE_CONFIGURATION:
        await sync_to_async(configuration_change_store)(
            station=station, key=job.params["key"], value=job.params["value"]
        )
    await _finish(target, status, detail, result=result, command=command)
    if status == TargetStatus.REJECTED and job.kind == Kind.FIRMWARE:
        await sync_to_async(firmware_certificate_refused)(job=job, target=target, station=station, command=command)


def _refusal(job: MaintenanceJob, target: MaintenanceTarget, station: Station) -> str:
    """Why the command must not be sent to this station, if it must not."""
    if job.kind in FILE_KINDS:
        other = (
            MaintenanceTarget.objects.filter(station=station, job__kind=job.kind, status=TargetStatus.WAITING)
            .exclude(pk=target.pk)
            .values_list("job_id", flat=True)
            .first()
        )
        if other:
            what = "firmware update" if job.kind == Kind.FIRMWARE else "diagnostics upload"
            return f"Another {what} of this station is in progress (job #{other})."
    firmware = job.firmware
    if job.kind == Kind.FIRMWARE and not job.params.get("allow_model_mismatch"):
        for field in ("vendor", "model"):
            meant, actual = getattr(firmware, field), getattr(station, field)
            if meant and actual and meant.lower() != actual.lower():
                return f"The firmware is for {field} {meant!r}; this station is {actual!r}. Not sent."
    if (
        job.kind == Kind.FIRMWARE
        and firmware.is_signed
        and not job.params.get("allow_unsigned")
        and not firmware_goes_signed(firmware=firmware, station=station)
    ):
        return (
            "The firmware is signed and this OCPP 1.6 station has not shown the security extension (none of "
            f"{', '.join(SECURITY_EXTENSION_KEYS)} in its configuration; read it with Get configuration). Not sent; "
            "allow unsigned updates to send it the plain UpdateFirmware."
        )
    return ""


def station_has_security_extension(station: Station) -> bool:
    """Whether a 1.6 station's known configuration shows the security extension (see SECURITY_EXTENSION_KEYS)."""
    return ConfigurationKey.objects.filter(station=station, key__in=SECURITY_EXTENSION_KEYS).exists()


def firmware_goes_signed(*, firmware: FirmwareImage, station: Station) -> bool:
    """Whether the station gets the firmware with its signature: 2.0.1 always, 1.6 with the security extension."""
    if not firmware.is_signed:
        return False
    return station.ocpp_version != "1.6" or station_has_security_extension(station)


def firmware_certificate_refused(
    *, job: MaintenanceJob, target: MaintenanceTarget, station: Station, command: StationCommand
) -> None:
    """A station refused the signing certificate of a signed update: shown as such on the target, and alerted."""
    status = outbound.answer_of(station.ocpp_version, command).status
    if status not in CERTIFICATE_REFUSALS:
        return
    what = "is not valid" if status == "InvalidCertificate" else "has been revoked"
    MaintenanceTarget.objects.filter(pk=target.pk).update(
        progress=status,
        progress_at=timezone.now(),
        detail=f"The station answered {status}: the firmware's signing certificate {what} for it. Not installed.",
    )
    alert_security_event(
        station=station,
        event_type=CERTIFICATE_EVENT,
        tech_info=f"{command.action} of firmware {job.firmware} answered {status} (maintenance job #{job.pk}).",
    )


async def _finish(target, status, detail, *, result=None, command=None) -> None:
    """Record the outcome of sending; unless the station was quicker (its upload arrived before our answer)."""
    fields = {"status": status, "detail": detail[:2000], "result": result}
    if status not in UNFINISHED:
        fields["finished_at"] = timezone.now()
    rows = MaintenanceTarget.objects.filter(pk=target.pk)
    if command is not None:
        await rows.aupdate(command=command)
    if await rows.filter(status=TargetStatus.RUNNING).aupdate(**fields):
        for name, value in fields.items():
            setattr(target, name, value)


def station_files_url(name: str, *args) -> str:
    return app_settings.STATION_FILES_URL + reverse(f"stations:{name}", args=args)


def firmware_url(target: MaintenanceTarget, firmware: FirmwareImage, station: Station) -> str:
    return station_files_url("firmware-download", station.ocpp_id, target.token, firmware.file_name)


def diagnostics_url(target: MaintenanceTarget, station: Station) -> str:
    return station_files_url("diagnostics-upload", station.ocpp_id, target.token)


def build_call(
    kind, *, ocpp_version, params, target=None, firmware=None, station=None, signed=False
) -> tuple[str, dict]:
    """The OCPP action and payload that carry out ``kind`` on a station of ``ocpp_version``; a firmware update with
    the firmware's signature when ``signed`` (see ``firmware_goes_signed``)."""
    connector = params.get("connector_id")
    retrying = {"retries": params.get("retries"), "retry_interval": params.get("retry_interval")}
    if kind == Kind.RESET:
        return outbound.reset(ocpp_version, hard=params["type"] == "Hard")
    if kind == Kind.UNLOCK:
        return outbound.unlock(ocpp_version, connector_id=connector)
    if kind == Kind.CHANGE_AVAILABILITY:
        return outbound.change_availability(
            ocpp_version, operative=params["type"] == "Operative", connector_id=connector
        )
    if kind == Kind.CLEAR_CACHE:
        return outbound.clear_cache(ocpp_version)
    if kind == Kind.TRIGGER_MESSAGE:
        return outbound.trigger_message(ocpp_version, message=params["requested_message"], connector_id=connector)
    if kind == Kind.GET_CONFIGURATION:
        return outbound.configuration_read(ocpp_version, keys=params.get("keys") or ())
    if kind == Kind.CHANGE_CONFIGURATION:
        return outbound.configuration_write(ocpp_version, key=params["key"], value=params["value"])
    if kind == Kind.DIAGNOSTICS:
        return outbound.diagnostics_upload(
            ocpp_version,
            location=diagnostics_url(target, station),
            request_id=target.pk,
            start_time=params.get("start_time"),
            stop_time=params.get("stop_time"),
            **retrying,
        )
    if kind == Kind.FIRMWARE:
        arguments = {
            "location": firmware_url(target, firmware, station),
            "request_id": target.pk,
            "retrieve_date": params.get("retrieve_date") or timezone.now().isoformat(),
            **retrying,
        }
        if signed:
            return outbound.signed_firmware_update(
                ocpp_version,
                signing_certificate=firmware.signing_certificate,
                signature=firmware.signature,
                **arguments,
            )
        return outbound.firmware_update(ocpp_version, **arguments)
    raise Unsupported(f"Unknown maintenance command {kind!r}.")


# Kinds whose answer is a plain yes or no; what to add when the yes comes with a condition.
YES_OR_NO = (
    Kind.RESET,
    Kind.UNLOCK,
    Kind.CHANGE_AVAILABILITY,
    Kind.CHANGE_CONFIGURATION,
    Kind.TRIGGER_MESSAGE,
    Kind.CLEAR_CACHE,
)
CONDITIONS = {
    outbound.Outcome.SCHEDULED: "Scheduled: it takes effect when the session in progress ends.",
    outbound.Outcome.REBOOT_REQUIRED: "Accepted: it takes effect after the station reboots.",
}


def outcome(kind: str, command: StationCommand, *, ocpp_version: str) -> tuple[str, str, dict | None]:
    """(target status, what to tell the operator, result) from the command's outcome and the station's answer."""
    if command.status == CommandStatus.OFFLINE:
        return TargetStatus.OFFLINE, command.error_description or "The station is not connected.", None
    if command.status == CommandStatus.TIMEOUT:
        return TargetStatus.TIMEOUT, command.error_description or "The station did not answer.", None
    if command.status in (CommandStatus.INVALID, CommandStatus.UNAVAILABLE):
        return TargetStatus.FAILED, command.error_description, None
    if command.status == CommandStatus.CALL_ERROR:
        error = f"{command.error_code} {command.error_description}".strip()
        return TargetStatus.FAILED, f"The station answered with an error: {error}", command.response
    response = command.response or {}
    answer = outbound.answer_of(ocpp_version, command)
    refused = (TargetStatus.REJECTED, f"The station answered {answer.status}.", response)
    if kind in YES_OR_NO:
        if answer.accepted:
            return TargetStatus.SUCCEEDED, CONDITIONS.get(answer.outcome, answer.status), response
        return refused
    if kind == Kind.GET_CONFIGURATION:
        keys, unknown = answer.data["keys"], answer.data["unknown"]
        detail = f"{len(keys)} key{'' if len(keys) == 1 else 's'} read."
        if unknown:
            detail += f" Unknown to the station: {', '.join(unknown)}."
        return TargetStatus.SUCCEEDED, detail, response
    if kind == Kind.DIAGNOSTICS:
        if answer.outcome == outbound.Outcome.NOTHING_TO_DO:
            return TargetStatus.SUCCEEDED, "The station has no diagnostics to upload.", response
        if not answer.accepted:
            return refused
        file_name = answer.data.get("file_name")
        return TargetStatus.WAITING, f"The station will upload {file_name or 'its log'}.", response
    if kind == Kind.FIRMWARE:
        if not answer.accepted:
            return refused
        return TargetStatus.WAITING, "The station will download the firmware.", response
    return TargetStatus.FAILED, f"Unknown maintenance command {kind!r}.", response


# Following jobs to their end


def job_settle(*, job: MaintenanceJob, now: datetime | None = None) -> MaintenanceJob:
    """The job's status from its targets': running while any is unfinished, then how many succeeded."""
    counts = dict(job.targets.values_list("status").annotate(n=Count("pk")))
    unfinished = sum(counts.get(status, 0) for status in UNFINISHED)
    job.refresh_from_db(fields=["status", "started_at", "finished_at"])
    if job.status == JobStatus.CANCELLED:
        if not unfinished and job.finished_at is None:
            job.finished_at = now or timezone.now()
            MaintenanceJob.objects.filter(pk=job.pk).update(finished_at=job.finished_at)
        return job
    if unfinished:
        status, finished_at = (JobStatus.RUNNING if job.started_at else JobStatus.QUEUED), None
    else:
        succeeded, total = counts.get(TargetStatus.SUCCEEDED, 0), sum(counts.values())
        status = JobStatus.SUCCEEDED if succeeded == total else JobStatus.FAILED if not succeeded else JobStatus.PARTIAL
        finished_at = job.finished_at or now or timezone.now()
    if (status, finished_at) != (job.status, job.finished_at):
        MaintenanceJob.objects.filter(pk=job.pk).exclude(status=JobStatus.CANCELLED).update(
            status=status, finished_at=finished_at
        )
        job.status, job.finished_at = status, finished_at
        if finished_at:
            logger.info("maintenance job finished", extra={"job_id": job.pk, "status": status, **counts})
    return job


def maintenance_jobs_refresh(*, job: MaintenanceJob | None = None, now: datetime | None = None) -> int:
    """Follow firmware updates and diagnostics uploads from the stations' reports; end the overdue; settle jobs.

    Also fails targets left "sending" by a worker that died. Returns how many targets changed.
    """
    now = now or timezone.now()
    waiting = MaintenanceTarget.objects.filter(status=TargetStatus.WAITING).select_related("job__firmware", "station")
    running = MaintenanceTarget.objects.filter(status=TargetStatus.RUNNING)
    if job is not None:
        waiting, running = waiting.filter(job=job), running.filter(job=job)
    changed, jobs = 0, set()
    for target in waiting:
        follow = _firmware_progress if target.job.kind == Kind.FIRMWARE else _diagnostics_progress
        if follow(target, now):
            changed += 1
            jobs.add(target.job_id)
    # A command takes at most its timeout; a target still "sending" well after that lost its worker.
    stale = now - timedelta(seconds=300 + app_settings.RESPONSE_TIMEOUT + REPLY_MARGIN + 60)
    for target in running.filter(started_at__lt=stale):
        if MaintenanceTarget.objects.filter(pk=target.pk, status=TargetStatus.RUNNING).update(
            status=TargetStatus.FAILED,
            finished_at=now,
            detail="The worker sending this command stopped; not known whether the station received it.",
        ):
            changed += 1
            jobs.add(target.job_id)
    if job is not None:
        jobs.add(job.pk)
    else:
        jobs.update(MaintenanceJob.objects.filter(status=JobStatus.RUNNING).values_list("pk", flat=True))
    for pk in jobs:
        job_settle(job=MaintenanceJob.objects.get(pk=pk), now=now)
    return changed


def _set(target: MaintenanceTarget, now: datetime, **fields) -> bool:
    """Update the target if it is still waiting; whether anything changed."""
    changes = {name: value for name, value in fields.items() if getattr(target, name) != value}
    if not changes:
        return False
    if changes.get("status") not in (None, *UNFINISHED):
        changes["finished_at"] = now
    updated = MaintenanceTarget.objects.filter(pk=target.pk, status=TargetStatus.WAITING).update(**changes)
    for name, value in changes.items():
        setattr(target, name, value)
    return bool(updated)


def _firmware_progress(target: MaintenanceTarget, now: datetime) -> bool:
    station, firmware = target.station, target.job.firmware
    reported = (
        station.firmware_status
        if station.firmware_status_at and station.firmware_status_at >= (target.started_at or now)
        else ""
    )
    if reported in FIRMWARE_FAILURES:
        return _set(
            target,
            now,
            status=TargetStatus.FAILED,
            progress=reported,
            progress_at=station.firmware_status_at,
            detail=f"The station reported {reported}"
            + (f": {FIRMWARE_FAILURE_MEANINGS[reported]}." if reported in FIRMWARE_FAILURE_MEANINGS else "."),
        )
    booted_new = (
        station.firmware_version == firmware.version
        and station.last_boot_at
        and station.last_boot_at >= (target.started_at or now)
    )
    if reported == "Installed" or booted_new:
        return _set(
            target,
            now,
            status=TargetStatus.SUCCEEDED,
            progress="Installed",
            progress_at=station.firmware_status_at if reported else station.last_boot_at,
            detail=f"Installed: the station runs firmware {station.firmware_version or firmware.version}.",
        )
    if target.started_at and now - target.started_at > timedelta(hours=app_settings.FIRMWARE_WAIT_HOURS):
        last = reported or target.progress or "nothing"
        return _set(
            target,
            now,
            status=TargetStatus.FAILED,
            detail=f"Not installed within {app_settings.FIRMWARE_WAIT_HOURS:g} h (last reported: {last}).",
        )
    if reported and reported != target.progress:
        return _set(target, now, progress=reported, progress_at=station.firmware_status_at)
    return False


def _diagnostics_progress(target: MaintenanceTarget, now: datetime) -> bool:
    station = target.station
    reported = (
        station.diagnostics_status
        if station.diagnostics_status_at and station.diagnostics_status_at >= (target.started_at or now)
        else ""
    )
    if reported == "UploadFailed":
        return _set(
            target,
            now,
            status=TargetStatus.FAILED,
            progress=reported,
            progress_at=station.diagnostics_status_at,
            detail="The station reported UploadFailed.",
        )
    if target.started_at and now - target.started_at > timedelta(minutes=app_settings.DIAGNOSTICS_WAIT_MINUTES):
        although = " although the station reported Uploaded" if reported == "Uploaded" else ""
        return _set(
            target,
            now,
            status=TargetStatus.FAILED,
            detail=f"No upload reached us within {app_settings.DIAGNOSTICS_WAIT_MINUTES:g} min{although}.",
        )
    if reported and reported != target.progress:
        return _set(target, now, progress=reported, progress_at=station.diagnostics_status_at)
    return False


def target_percent(target: MaintenanceTarget) -> int:
    """How far one station has come, for progress bars."""
    if target.is_finished:
        return 100
    if target.job.kind == Kind.FIRMWARE and target.status == TargetStatus.WAITING:
        return max(10, FIRMWARE_STAGES.get(target.progress, 10 if not target.downloads else 25))
    if target.status == TargetStatus.WAITING:
        return 50 if target.progress == "Uploading" else 30
    return 0 if target.status == TargetStatus.PENDING else 5


def maintenance_job_cancel(*, job: MaintenanceJob, user) -> MaintenanceJob:
    """Stop what has not been sent yet and stop waiting for stations; commands in flight finish and are recorded."""
    now = timezone.now()
    who = user.get_username() if user is not None and user.is_authenticated else "an operator"
    with transaction.atomic():
        updated = (
            MaintenanceJob.objects.filter(pk=job.pk)
            .exclude(status__in=[JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED, JobStatus.CANCELLED])
            .update(status=JobStatus.CANCELLED)
        )
        if updated:
            job.targets.filter(status__in=[TargetStatus.PENDING, TargetStatus.WAITING]).update(
                status=TargetStatus.CANCELLED, finished_at=now, detail=f"Cancelled by {who}."
            )
    if updated:
        logger.info("maintenance job cancelled", extra={"job_id": job.pk, "user": who})
    return job_settle(job=job, now=now)


# The last known configuration


def configuration_store(*, station: Station, keys: list[dict], now: datetime | None = None) -> int:
    """GetConfiguration's configurationKey list, merged into what is known (keys not asked for are kept)."""
    now = now or timezone.now()
    rows = {
        entry["key"][:50]: ConfigurationKey(
            station=station,
            key=entry["key"][:50],
            value=stored_value(entry["key"], entry.get("value")),
            readonly=bool(entry.get("readonly")),
            reported_at=now,
        )
        for entry in keys
        if entry.get("key")
    }
    ConfigurationKey.objects.bulk_create(
        rows.values(),
        update_conflicts=True,
        unique_fields=["station", "key"],
        update_fields=["value", "readonly", "reported_at"],
    )
    return len(rows)


def configuration_change_store(*, station: Station, key: str, value: str, now: datetime | None = None) -> None:
    """A change the station accepted."""
    ConfigurationKey.objects.update_or_create(
        station=station,
        key=key[:50],
        defaults={"value": stored_value(key, value), "reported_at": now or timezone.now()},
    )


# The station's side: firmware downloads and diagnostics uploads


@dataclass(frozen=True)
class Download:
    target: MaintenanceTarget
    firmware: FirmwareImage


def _target_for_file(*, ocpp_id: str, token: str, kind: str) -> MaintenanceTarget:
    target = (
        MaintenanceTarget.objects.select_related("job__firmware", "station").filter(token=token, job__kind=kind).first()
        if token
        else None
    )
    # The same answer for an unknown token and another station's: nothing to learn by guessing.
    if target is None or target.station.ocpp_id != ocpp_id:
        raise FileRefused(404, "No such file.")
    return target


def firmware_download_open(*, ocpp_id: str, token: str, now: datetime | None = None) -> Download:
    """The firmware a station may download with this token; counted, and shown as the update's first stage."""
    now = now or timezone.now()
    target = _target_for_file(ocpp_id=ocpp_id, token=token, kind=Kind.FIRMWARE)
    expired = target.started_at and now - target.started_at > timedelta(hours=app_settings.FIRMWARE_WAIT_HOURS)
    if target.status not in (TargetStatus.RUNNING, TargetStatus.WAITING) or expired:
        raise FileRefused(410, "This firmware link is no longer valid.")
    fields = {"downloads": F("downloads") + 1, "downloaded_at": now}
    if not target.progress:
        fields.update(progress="Downloading", progress_at=now)
    MaintenanceTarget.objects.filter(pk=target.pk).update(**fields)
    logger.info("firmware download", extra={"station_id": ocpp_id, "target_id": target.pk})
    return Download(target=target, firmware=target.job.firmware)


def diagnostics_upload_check(*, ocpp_id: str, token: str, size: int | None) -> MaintenanceTarget:
    """Refuse an upload before its body is read: unknown token, another station's, finished, or too large."""
    target = _target_for_file(ocpp_id=ocpp_id, token=token, kind=Kind.DIAGNOSTICS)
    if target.file_received_at:
        raise FileRefused(409, "The diagnostics of this request have been uploaded already.")
    if target.status not in (TargetStatus.RUNNING, TargetStatus.WAITING):
        raise FileRefused(410, "This upload link is no longer valid.")
    if size is not None and size > app_settings.DIAGNOSTICS_MAX_BYTES:
        raise FileRefused(413, f"The file is larger than {app_settings.DIAGNOSTICS_MAX_BYTES} bytes.")
    return target


def diagnostics_upload_receive(*, ocpp_id: str, token: str, file, name: str) -> MaintenanceTarget:
    """Keep the station's diagnostics file; the target succeeds (the operator downloads it from the portal)."""
    size = file.size
    diagnostics_upload_check(ocpp_id=ocpp_id, token=token, size=size)
    now = timezone.now()
    with transaction.atomic():
        target = MaintenanceTarget.objects.select_for_update().select_related("station", "job").get(token=token)
        if target.file_received_at:
            raise FileRefused(409, "The diagnostics of this request have been uploaded already.")
        clean_name = get_valid_filename(name.rsplit("/", 1)[-1])[:200] or "diagnostics"
        target.file.save(f"{target.station.ocpp_id}-{target.job_id}-{clean_name}", file, save=False)
        target.file_name, target.file_size, target.file_received_at = clean_name, size, now
        target.status, target.finished_at = TargetStatus.SUCCEEDED, now
        target.progress, target.progress_at = "Uploaded", now
        target.detail = f"Received {clean_name} ({size} bytes)."
        target.save(
            update_fields=[
                "file",
                "file_name",
                "file_size",
                "file_received_at",
                "status",
                "finished_at",
                "progress",
                "progress_at",
                "detail",
            ]
        )
    logger.info("diagnostics received", extra={"station_id": ocpp_id, "target_id": target.pk, "bytes": size})
    job_settle(job=target.job, now=now)
    return target


# Firmware files


def firmware_upload(
    *,
    file,
    name: str,
    version: str,
    vendor: str = "",
    model: str = "",
    notes: str = "",
    signing_certificate: str = "",
    signature: str = "",
    sign: bool = False,
    uploaded_by=None,
) -> FirmwareImage:
    """Keep an operator's firmware file with its size and SHA-256 (shown to compare with the vendor's).

    Signed firmware comes with the vendor's ``signing_certificate`` and ``signature``, refused unless they verify
    against the file; or, with ``sign``, is signed here with the operator's configured key.
    """
    if file.size > app_settings.FIRMWARE_MAX_BYTES:
        raise MaintenanceError({"file": [f"The file is larger than {app_settings.FIRMWARE_MAX_BYTES} bytes."]})
    if not file.size:
        raise MaintenanceError({"file": ["The file is empty."]})
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    signing_certificate, signature = _firmware_signature(
        digest=digest.digest(), signing_certificate=signing_certificate.strip(), signature=signature.strip(), sign=sign
    )
    if uploaded_by is not None and not uploaded_by.is_authenticated:
        uploaded_by = None
    image = FirmwareImage(
        name=name,
        version=version,
        vendor=vendor,
        model=model,
        notes=notes,
        size=file.size,
        sha256=digest.hexdigest(),
        signing_certificate=signing_certificate,
        signature=signature,
        uploaded_by=uploaded_by,
    )
    image.file.save(get_valid_filename(file.name.rsplit("/", 1)[-1]) or "firmware.bin", file, save=False)
    image.save()
    logger.info(
        "firmware uploaded",
        extra={"firmware_id": image.pk, "version": version, "bytes": image.size, "signed": image.is_signed},
    )
    return image


def _firmware_signature(*, digest: bytes, signing_certificate: str, signature: str, sign: bool) -> tuple[str, str]:
    """The (certificate, signature) to keep with a file of SHA-256 ``digest``: both or neither, and verified."""
    try:
        if sign:
            if signing_certificate or signature:
                raise firmware_signing.SignatureRefused(
                    "sign", "Either sign with the configured key or attach a signature, not both."
                )
            signing_certificate, signature = firmware_signing.signature_make(digest=digest)
        elif bool(signing_certificate) != bool(signature):
            missing = "signature" if signing_certificate else "signing_certificate"
            raise firmware_signing.SignatureRefused(
                missing, "Signed firmware needs both the certificate and the signature."
            )
        if signature:
            firmware_signing.signature_check(
                digest=digest, certificate_pem=signing_certificate, signature_b64=signature
            )
    except firmware_signing.SignatureRefused as refused:
        raise MaintenanceError({refused.field: [str(refused)]}) from refused
    return signing_certificate, "".join(signature.split())
