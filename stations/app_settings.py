"""Settings of the stations app, each with its default, overridable in Django settings or the environment."""

import json
import os

from django.conf import settings


def _setting(name: str, default, cast=str):
    if hasattr(settings, name):
        return getattr(settings, name)
    if name in os.environ:
        return cast(os.environ[name])
    return default


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


class AppSettings:
    @property
    def HEARTBEAT_INTERVAL(self) -> int:
        """Seconds between heartbeats asked of a station in BootNotification."""
        return _setting("CMS_OCPP_HEARTBEAT_INTERVAL", 300, int)

    @property
    def AUTO_REGISTER(self) -> bool:
        """Accept unknown station ids as Pending instead of refusing them."""
        return _setting("CMS_OCPP_AUTO_REGISTER", False, _bool)

    @property
    def RESPONSE_TIMEOUT(self) -> float:
        """Seconds to wait for a station's answer to a command."""
        return _setting("CMS_OCPP_RESPONSE_TIMEOUT", 30.0, float)

    @property
    def MAX_FRAME_BYTES(self) -> int:
        """Largest frame accepted from a station; a larger one is answered with FormationViolation.

        daphne itself closes the socket on a message over its ``--websocket_max_message_size`` (1 MiB).
        """
        return _setting("CMS_OCPP_MAX_FRAME_BYTES", 64 * 1024, int)

    @property
    def MESSAGE_RETENTION_DAYS(self) -> int:
        """Days the OCPP message log is kept (purged hourly by a Celery beat task); 0 keeps it forever."""
        return _setting("CMS_OCPP_MESSAGE_RETENTION_DAYS", 30, int)

    @property
    def FRAME_LOG_FLUSH_MS(self) -> float:
        """Longest time a frame waits in a daphne process before the message log is written."""
        return _setting("CMS_OCPP_FRAME_LOG_FLUSH_MS", 20.0, float)

    @property
    def FRAME_LOG_BATCH(self) -> int:
        """Frames that make the message log write at once, without waiting for the flush interval."""
        return _setting("CMS_OCPP_FRAME_LOG_BATCH", 500, int)

    @property
    def DATA_TRANSFER_HANDLERS(self) -> dict[str, str]:
        """vendorId → dotted path of the callable answering a station's DataTransfer (JSON in the environment)."""
        return _setting("CMS_OCPP_DATA_TRANSFER_HANDLERS", {}, json.loads)


app_settings = AppSettings()
