"""Settings of the Plug & Charge app, each with its default, overridable in Django settings or the environment."""

from cms.app_settings import setting


class AppSettings:
    @property
    def PROVIDER(self) -> str:
        """Dotted path of the ``ContractProvider`` class that speaks to the V2G PKI (see ``interface``); empty:
        Plug & Charge is off (certificate requests fail, contract certificates are not trusted).
        ``plugandcharge.providers.testing.TestingProvider`` is the repository's own test PKI: never in production."""
        return setting("CMS_PNC_PROVIDER", "")


app_settings = AppSettings()
