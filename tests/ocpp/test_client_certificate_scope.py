"""Reading a handshake's client certificate and address from the ASGI scope, and the settings check (no server,
no database): daphne's TLS extension is believed; a proxy's headers only with BEHIND_TLS_PROXY."""

from urllib.parse import quote

import pytest

from stations import login_throttle
from stations.client_certificates import client_certificate_settings_check, presented_certificate
from tests.ocpp.certificates import certificate_authority, issue, station_pki

TRUSTED_PROXY = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return station_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def station_ca(settings, pki):
    settings.CMS_OCPP_CLIENT_CA_FILE = str(pki.station_ca.cert_path)
    settings.CMS_OCPP_CLIENT_CERT_ID_FIELD = "CN"
    settings.SECURE_PROXY_SSL_HEADER = None


def tls_scope(issued):
    return {"headers": [], "extensions": {"tls": {"client_cert_chain": [issued.pem]}}}


def proxied_scope(issued, verify=b"SUCCESS"):
    headers = [(b"x-ssl-client-verify", verify), (b"x-ssl-client-cert", quote(issued.pem, safe="").encode())]
    return {"headers": headers}


def test_daphne_s_verified_certificate_names_its_station(pki):
    assert presented_certificate(tls_scope(pki.valid)).station_id == "CP-1"
    assert presented_certificate(tls_scope(pki.other_station)).station_id == "CP-2"
    assert presented_certificate({"headers": [], "extensions": {"tls": {"client_cert_chain": []}}}) is None


def test_the_configured_subject_field_names_the_station(settings, tmp_path, pki):
    settings.CMS_OCPP_CLIENT_CERT_ID_FIELD = "OU"
    assert presented_certificate(tls_scope(pki.valid)).station_id == ""  # no OU: no station
    settings.CMS_OCPP_CLIENT_CERT_ID_FIELD = "CN"
    assert presented_certificate(tls_scope(pki.valid)).station_id == "CP-1"


def test_proxy_headers_count_only_from_a_trusted_proxy_and_only_when_verified(settings, pki):
    assert presented_certificate(proxied_scope(pki.valid)) is None
    settings.SECURE_PROXY_SSL_HEADER = TRUSTED_PROXY
    accepted = presented_certificate(proxied_scope(pki.valid))
    assert (accepted.station_id, accepted.refusal) == ("CP-1", "")
    assert presented_certificate(proxied_scope(pki.valid, verify=b"NONE")) is None
    assert "expired" in presented_certificate(proxied_scope(pki.expired)).refusal
    assert "not issued" in presented_certificate(proxied_scope(pki.other_ca)).refusal


def test_a_forwarded_certificate_is_refused_when_the_ca_file_is_gone(settings, tmp_path, pki):
    settings.SECURE_PROXY_SSL_HEADER = TRUSTED_PROXY
    settings.CMS_OCPP_CLIENT_CA_FILE = str(tmp_path / "moved-away.pem")
    assert "cannot be read" in presented_certificate(proxied_scope(pki.valid)).refusal


def test_a_sub_ca_in_the_file_issues_directly(settings, tmp_path, pki):
    sub_ca = certificate_authority(tmp_path, "Test station sub CA")
    settings.CMS_OCPP_CLIENT_CA_FILE = str(tmp_path / "bundle.pem")
    (tmp_path / "bundle.pem").write_text(pki.station_ca.pem + sub_ca.pem)
    settings.SECURE_PROXY_SSL_HEADER = TRUSTED_PROXY
    assert presented_certificate(proxied_scope(issue(tmp_path, sub_ca, "CP-9"))).refusal == ""


def test_the_station_address_is_the_one_the_trusted_proxy_added(settings):
    scope = {"client": ("10.0.0.2", 5555), "headers": [(b"x-forwarded-for", b"203.0.113.9, 198.51.100.4")]}
    assert login_throttle.handshake_address(scope) == "10.0.0.2"  # not behind a proxy: the header is anyone's
    settings.SECURE_PROXY_SSL_HEADER = TRUSTED_PROXY
    assert login_throttle.handshake_address(scope) == "198.51.100.4"
    assert login_throttle.handshake_address({"client": ("10.0.0.2", 1), "headers": []}) == "10.0.0.2"


def test_settings_check_names_an_unknown_subject_field_and_an_unreadable_ca_file(settings, tmp_path):
    assert client_certificate_settings_check() == []
    settings.CMS_OCPP_CLIENT_CERT_ID_FIELD = "emailAddress"
    settings.CMS_OCPP_CLIENT_CA_FILE = str(tmp_path / "missing.pem")
    assert [problem.id for problem in client_certificate_settings_check()] == ["stations.E301", "stations.E302"]
