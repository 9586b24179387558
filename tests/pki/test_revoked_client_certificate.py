"""A station certificate the operator revoked is refused at the security-profile-3 login, although TLS verified it
(TLS checks the chain and the dates; the revocation is the CSMS's)."""

import pytest

from pki import crypto, services
from stations.client_certificates import ClientCertificate
from stations.models import Station
from stations.security import station_login
from tests.pki.csr import csr_pem, key_of
from tests.pki.test_lifecycle import issue

pytestmark = pytest.mark.django_db


def presented(issued) -> ClientCertificate:
    """The certificate as daphne's mtls endpoint hands it to the login."""
    certificate = crypto.certificate_load(issued.certificate_pem)
    return ClientCertificate(station_id=issued.station.ocpp_id, certificate=certificate)


def test_a_revoked_certificate_no_longer_logs_its_station_in(make_station, operator_admin):
    station = make_station("CP-1")
    Station.objects.filter(pk=station.pk).update(security_profile=3)
    issued = issue(station)
    login = {"ocpp_id": "CP-1", "password": None, "client": "192.0.2.1"}

    assert station_login(certificate=presented(issued), **login).station == station

    services.certificate_revoke(certificate=issued, reason="keyCompromise", revoked_by=operator_admin)
    assert station_login(certificate=presented(issued), **login).station is None

    renewed = issue(station, csr=csr_pem("CP-1", key=key_of("ec384")))
    assert station_login(certificate=presented(renewed), **login).station == station
