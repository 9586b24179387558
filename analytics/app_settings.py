"""Settings of the analytics app, each with its default, overridable in Django settings or the environment."""

from cms.app_settings import as_list, setting


class AppSettings:
    @property
    def OFFLINE_AFTER(self) -> int:
        """Seconds of silence after which a station still holding a socket counts as offline."""
        from stations.app_settings import app_settings as stations_settings

        return setting("CMS_ANALYTICS_OFFLINE_AFTER", 3 * stations_settings.HEARTBEAT_INTERVAL, int)

    @property
    def SESSION_LOOKBACK_DAYS(self) -> int:
        """How far back a session may have started and still add energy or be refreshed in a later day's rollup."""
        return setting("CMS_ANALYTICS_SESSION_LOOKBACK_DAYS", 7, int)

    @property
    def REPORT_RECIPIENTS(self) -> list[str]:
        """Who gets the monthly report; empty means every active analyst and operator admin."""
        return setting("CMS_ANALYTICS_REPORT_RECIPIENTS", [], as_list)

    @property
    def DEFAULT_RANGE_DAYS(self) -> int:
        """The dashboards' date range when none is chosen."""
        return setting("CMS_ANALYTICS_DEFAULT_RANGE_DAYS", 30, int)

    @property
    def MAX_RANGE_DAYS(self) -> int:
        """The longest date range a dashboard accepts (the rollups make a year cheap)."""
        return setting("CMS_ANALYTICS_MAX_RANGE_DAYS", 3 * 366, int)


app_settings = AppSettings()
