"""Settings of the accounts app, each with its default, overridable in Django settings or the environment."""

from cms.app_settings import as_int_list, setting


class AppSettings:
    @property
    def IDTOKEN_IMPORT_MAX_ROWS(self) -> int:
        """The most rows one CSV import of ID tokens may hold."""
        return setting("CMS_IDTOKEN_IMPORT_MAX_ROWS", 50_000, int)

    @property
    def IDTOKEN_IMPORT_MAX_BYTES(self) -> int:
        """The largest CSV file of ID tokens the operator page accepts."""
        return setting("CMS_IDTOKEN_IMPORT_MAX_BYTES", 5 * 1024 * 1024, int)

    @property
    def IDTOKEN_CLAIM_REFUSALS_PER_HOUR(self) -> int:
        """How many refused attempts to add a card a driver may make per hour."""
        return setting("CMS_IDTOKEN_CLAIM_REFUSALS_PER_HOUR", 10, int)

    @property
    def LOCAL_LIST_CHUNK(self) -> int:
        """Entries per SendLocalList to a station that does not tell its SendLocalListMaxLength."""
        return setting("CMS_LOCAL_LIST_CHUNK", 500, int)

    @property
    def LOCAL_LIST_RETRY_MINUTES(self) -> list[int]:
        """The waits after the 1st, 2nd, ... unsuccessful local-list sync of a station; the last one repeats."""
        return setting("CMS_LOCAL_LIST_RETRY_MINUTES", [1, 5, 15, 60, 240], as_int_list)


app_settings = AppSettings()
