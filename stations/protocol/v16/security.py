"""OCPP 1.6 security extension (the OCA's "Improved security for OCPP 1.6-J"): the messages a station sends.

Security events become alerts; a CSR (SignCertificate) is signed by the operator's CA (``pki``) and the certificate
sent back with CertificateSigned; signed-firmware and log-upload progress land where the plain 1.6
notifications put theirs, so maintenance jobs follow either kind of update.
"""

from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from monitoring.alerts import alert_security_event
from stations import services
from stations.protocol.db import in_db_pool
from stations.protocol.framing import parse_timestamp


def _pki_services():
    """pki's services send commands, whose module imports the protocol packages, this one among them: imported
    when first used."""
    from pki import services

    return services


class SecurityHandlers:
    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type, timestamp, tech_info="", **_):
        occurred_at = parse_timestamp(timestamp, field="timestamp")
        await in_db_pool(alert_security_event)(
            station=self.station, event_type=type, tech_info=tech_info or "", occurred_at=occurred_at
        )
        return call_result.SecurityEventNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(self, status, **_):
        await in_db_pool(services.station_firmware_status)(station=self.station, status=status)
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status, **_):
        await in_db_pool(services.station_diagnostics_status)(station=self.station, status=status)
        return call_result.LogStatusNotification()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr, **_):
        """Accepted once the CA has issued the certificate; it follows as CertificateSigned (below)."""
        pki = _pki_services()
        try:
            await in_db_pool(pki.certificate_sign_request)(station=self.station, csr=csr)
        except (pki.CsrRefused, pki.PkiUnavailable):
            return call_result.SignCertificate(status="Rejected")
        return call_result.SignCertificate(status="Accepted")

    @after(Action.sign_certificate)
    async def deliver_signed_certificate(self, csr, **_):
        await _pki_services().certificate_deliver_for_csr(
            station=self.station, csr=csr, certificate_type="ChargingStationCertificate"
        )
