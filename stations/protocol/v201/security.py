"""OCPP 2.0.1 functional block A, Security: SecurityEventNotification, into the security alerts 1.6 feeds; and
SignCertificate, answered by the operator's CA (``pki``) with CertificateSigned."""

from ocpp.routing import after, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from monitoring.alerts import alert_security_event
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

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr, certificate_type="ChargingStationCertificate", **_):
        """Accepted once the CA has issued the certificate; it follows as CertificateSigned (below)."""
        pki = _pki_services()
        try:
            await in_db_pool(pki.certificate_sign_request)(
                station=self.station, csr=csr, certificate_type=certificate_type
            )
        except (pki.CsrRefused, pki.PkiUnavailable) as refused:
            info = {"reason_code": "InvalidCSR", "additional_info": str(refused)[:512]}
            return call_result.SignCertificate(status="Rejected", status_info=info)
        return call_result.SignCertificate(status="Accepted")

    @after(Action.sign_certificate)
    async def deliver_signed_certificate(self, csr, certificate_type="ChargingStationCertificate", **_):
        await _pki_services().certificate_deliver_for_csr(
            station=self.station, csr=csr, certificate_type=certificate_type
        )
