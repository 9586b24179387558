"""Settings of the pki app (the operator's CA), each with its default, overridable in settings or the environment."""

import hashlib
import os

from django.conf import settings

from cms.app_settings import setting
from stations.app_settings import app_settings as stations_settings


class AppSettings:
    @property
    def ORGANIZATION(self) -> str:
        """The operator's organisation: the CA's O, and the O a station's CSR must carry (2.0.1
        SecurityCtrlr.OrganizationName); empty: the CSR's O is not checked."""
        return setting("CMS_PKI_ORGANIZATION", os.environ.get("CMS_OPERATOR_NAME", "Voltgrid operator"))

    @property
    def CA_COMMON_NAME(self) -> str:
        """The CN of the CA generated on first use."""
        return setting("CMS_PKI_CA_COMMON_NAME", f"{self.ORGANIZATION} station CA")

    @property
    def CA_RSA_BITS(self) -> int:
        """0: the generated CA has an EC P-256 key (every OCPP 2.0.1 station supports it); else RSA of this size."""
        return setting("CMS_PKI_CA_RSA_BITS", 0, int)

    @property
    def CA_VALIDITY_DAYS(self) -> int:
        return setting("CMS_PKI_CA_VALIDITY_DAYS", 3650, int)

    @property
    def CERTIFICATE_VALIDITY_DAYS(self) -> int:
        """Days a station certificate is valid (never beyond the CA)."""
        return setting("CMS_PKI_CERTIFICATE_VALIDITY_DAYS", 365, int)

    @property
    def KEY_PASSPHRASE(self) -> bytes:
        """What encrypts the CA's private key at rest. Set CMS_PKI_KEY_PASSPHRASE in production: the default is
        derived from SECRET_KEY, so changing SECRET_KEY would lock the CA's key away."""
        passphrase = setting("CMS_PKI_KEY_PASSPHRASE", "")
        if passphrase:
            return passphrase.encode()
        return hashlib.sha256(b"voltgrid-pki-ca-key:" + settings.SECRET_KEY.encode()).hexdigest().encode()

    @property
    def EXPIRY_WARNING_DAYS(self) -> int:
        """An alert (warning) opens this many days before a station's or the CA's certificate expires."""
        return setting("CMS_PKI_EXPIRY_WARNING_DAYS", 30, int)

    @property
    def EXPIRY_CRITICAL_DAYS(self) -> int:
        """... and turns critical this many days before."""
        return setting("CMS_PKI_EXPIRY_CRITICAL_DAYS", 7, int)

    @property
    def CRL_VALIDITY_HOURS(self) -> int:
        """The CRL's nextUpdate, from the moment it is fetched."""
        return setting("CMS_PKI_CRL_VALIDITY_HOURS", 24, int)

    @property
    def PUBLIC_URL(self) -> str:
        """This CSMS's address as stations and TLS terminators reach it (e.g. https://csms.example.com): issued
        certificates then name the CRL at <PUBLIC_URL>/pki/crl.der; empty: they name none."""
        return setting("CMS_PKI_PUBLIC_URL", "").rstrip("/")

    @property
    def CLIENT_CA_FILE(self) -> str:
        """Where ``manage.py pki_export_ca`` writes the CA certificate: the file TLS client verification reads
        (the stations' CMS_OCPP_CLIENT_CA_FILE), or var/pki/client-ca.pem while that is unset."""
        return stations_settings.CLIENT_CA_FILE or str(settings.BASE_DIR / "var" / "pki" / "client-ca.pem")


app_settings = AppSettings()
