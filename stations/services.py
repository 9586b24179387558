"""Business rules for stations: identity, registration, boot and liveness."""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from stations.app_settings import app_settings
from stations.models import Station

logger = logging.getLogger(__name__)


def station_create(*, ocpp_id: str, password: str | None, **fields) -> Station:
    station = Station(ocpp_id=ocpp_id, **fields)
    station.set_password(password)
    station.full_clean()
    station.save()
    return station


def station_authenticate(*, ocpp_id: str, password: str | None) -> Station | None:
    """The station for a WebSocket handshake, or None when it must be refused.

    A registered station with a password must present it (security profile 1). Unknown ids are
    refused, unless auto-registration is on: then they are created as Pending, without a password,
    for the operator to review.
    """
    station = Station.objects.filter(ocpp_id=ocpp_id).first()
    if station is None:
        if not app_settings.AUTO_REGISTER:
            logger.warning("unknown station refused", extra={"station_id": ocpp_id})
            return None
        station, _ = Station.objects.get_or_create(
            ocpp_id=ocpp_id, defaults={"registration_status": Station.RegistrationStatus.PENDING}
        )
        logger.info("unknown station auto-registered as pending", extra={"station_id": ocpp_id})
        return station
    if station.password_hash and not (password and station.check_password(password)):
        logger.warning("station refused: wrong or missing password", extra={"station_id": ocpp_id})
        return None
    return station


def station_connected(*, station: Station, ocpp_version: str, channel_name: str) -> None:
    now = timezone.now()
    Station.objects.filter(pk=station.pk).update(
        is_online=True, ocpp_version=ocpp_version, channel_name=channel_name, connected_at=now, last_seen_at=now
    )
    logger.info("station connected", extra={"station_id": station.ocpp_id, "ocpp_version": ocpp_version})


def station_disconnected(*, station: Station, channel_name: str) -> None:
    # A replaced connection must not mark the station offline under its successor.
    updated = Station.objects.filter(pk=station.pk, channel_name=channel_name).update(
        is_online=False, channel_name=""
    )
    if updated:
        logger.info("station disconnected", extra={"station_id": station.ocpp_id})


@transaction.atomic
def station_boot(*, station: Station, boot_fields: dict, booted_at: datetime | None = None) -> str:
    """Store what the station says of itself; answer with its registration status."""
    fields = {name: (value or "")[: Station._meta.get_field(name).max_length] for name, value in boot_fields.items()}
    now = booted_at or timezone.now()
    Station.objects.filter(pk=station.pk).update(last_boot_at=now, last_seen_at=now, **fields)
    status = Station.objects.values_list("registration_status", flat=True).get(pk=station.pk)
    logger.info("boot notification", extra={"station_id": station.ocpp_id, "status": status, **fields})
    return status


def station_heartbeat(*, station: Station) -> datetime:
    now = timezone.now()
    Station.objects.filter(pk=station.pk).update(last_heartbeat_at=now, last_seen_at=now)
    return now
