"""Settings of the stations app, each with its default, overridable in Django settings or the environment."""

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
        return _setting("CMS_OCPP_MAX_FRAME_BYTES", 64 * 1024, int)

    @property
    def MESSAGE_RETENTION_DAYS(self) -> int:
        return _setting("CMS_OCPP_MESSAGE_RETENTION_DAYS", 30, int)


app_settings = AppSettings()
