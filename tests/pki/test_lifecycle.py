"""The CA's certificates over their life, at the service level and once through the API, the portal and the
management commands: expiry alerts, revocation (the CRL and every check of ours), export for daphne, import."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from cryptography import x509
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from monitoring.models import Alert
from pki import crypto, selectors, services
from pki.app_settings import app_settings
from pki.models import CertificateAuthority, IssuedCertificate
from stations.client_certificates import ClientCertificate, presented_certificate
from stations.models import Station
from stations.security import station_login
from tests.pki.csr import csr_pem, key_of
from tests.pki.v2g import v2g_pki

pytestmark = pytest.mark.django_db
Severity = Alert.Severity
PROFILE_3 = Station.SecurityProfile.TLS_CLIENT_CERTIFICATE


def issue(station, *, now=None, accepted=True, csr=None) -> IssuedCertificate:
    issued = services.certificate_sign_request(station=station, csr=csr or csr_pem(station.ocpp_id), now=now)
    if accepted:
        IssuedCertificate.objects.filter(pk=issued.pk).update(delivery=IssuedCertificate.Delivery.ACCEPTED)
    return issued


def open_alerts(kind):
    return list(Alert.objects.filter(kind=kind, closed_at__isnull=True))


@pytest.fixture
def behind_tls_proxy(settings, tmp_path):
    """Deployment B of docs/deploy.md: the application believes the proxy's headers and checks the forwarded
    certificate once more against the CA file, here the one ``pki_export_ca`` writes."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.CMS_OCPP_CLIENT_CA_FILE = str(tmp_path / "client-ca.pem")


def forwarded(certificate_pem: str) -> ClientCertificate | None:
    """The certificate as the TLS proxy forwards it (nginx's URL-encoded PEM), read against the CA file exported
    now: our station CAs of the moment, never the V2G CA."""
    services.ca_export()
    headers = [(b"x-ssl-client-verify", b"SUCCESS"), (b"x-ssl-client-cert", quote(certificate_pem, safe="").encode())]
    return presented_certificate({"headers": headers})


def profile_3_login(certificate_pem: str, ocpp_id: str = "CP-1") -> Station | None:
    login = station_login(ocpp_id=ocpp_id, password=None, certificate=forwarded(certificate_pem), client="192.0.2.1")
    return login.station


# Expiry


def test_an_alert_opens_before_a_station_certificate_expires_turns_critical_and_closes_once_renewed(
    make_station, settings
):
    settings.CMS_PKI_EXPIRY_WARNING_DAYS, settings.CMS_PKI_EXPIRY_CRITICAL_DAYS = 30, 7
    station = make_station("CP-1")
    issued = issue(station)
    issue(make_station("CP-2"), accepted=False)  # never taken by its station: its expiry does not matter

    assert services.certificate_expiry_alerts(now=issued.not_after - timedelta(days=31)).opened == []
    evaluation = services.certificate_expiry_alerts(now=issued.not_after - timedelta(days=20))
    [alert] = evaluation.opened
    assert (alert.station_id, alert.kind, alert.severity) == (station.pk, Alert.Kind.CERTIFICATE_EXPIRING, "warning")
    assert alert.subject == f"cert:{issued.serial_number}"
    assert "in 19 days" in alert.summary or "in 20 days" in alert.summary
    assert services.certificate_expiry_alerts(now=issued.not_after - timedelta(days=19)).opened == []  # still open

    services.certificate_expiry_alerts(now=issued.not_after - timedelta(days=3))
    [alert] = open_alerts(Alert.Kind.CERTIFICATE_EXPIRING)
    assert alert.severity == Severity.CRITICAL

    renewal_time = issued.not_after - timedelta(days=2)
    issue(station, now=renewal_time)
    evaluation = services.certificate_expiry_alerts(now=renewal_time)
    assert [closed.pk for closed in evaluation.closed] == [alert.pk]
    assert open_alerts(Alert.Kind.CERTIFICATE_EXPIRING) == []


def test_a_ca_about_to_expire_alerts_on_the_stations_that_hold_its_certificates_until_they_are_gone(
    make_station, settings
):
    settings.CMS_PKI_CA_VALIDITY_DAYS = 40
    first, second = make_station("CP-1"), make_station("CP-2")
    issued = [issue(first), issue(second)]
    ca = CertificateAuthority.objects.get()
    assert all(certificate.not_after <= ca.not_after for certificate in issued)  # never beyond the CA

    services.certificate_expiry_alerts(now=timezone.now() + timedelta(days=15))
    ca_alerts = open_alerts(Alert.Kind.CA_CERTIFICATE_EXPIRING)
    assert sorted(alert.station_id for alert in ca_alerts) == [first.pk, second.pk]
    assert {alert.subject for alert in ca_alerts} == {f"ca:{ca.serial_number}"}
    assert len(open_alerts(Alert.Kind.CERTIFICATE_EXPIRING)) == 2

    services.certificate_revoke(certificate=issued[0], reason="cessationOfOperation")
    services.certificate_expiry_alerts(now=timezone.now() + timedelta(days=15))
    assert [alert.station_id for alert in open_alerts(Alert.Kind.CA_CERTIFICATE_EXPIRING)] == [second.pk]
    assert [alert.station_id for alert in open_alerts(Alert.Kind.CERTIFICATE_EXPIRING)] == [second.pk]


def test_the_beat_task_evaluates_expiry(make_station, settings):
    from pki.tasks import certificate_expiry_alerts

    settings.CMS_PKI_CERTIFICATE_VALIDITY_DAYS = 5
    issue(make_station("CP-1"))
    certificate_expiry_alerts()
    [alert] = open_alerts(Alert.Kind.CERTIFICATE_EXPIRING)
    assert alert.severity == Severity.CRITICAL
    assert "pki-certificate-expiry-alerts" in settings.CELERY_BEAT_SCHEDULE


# Revocation


def test_a_revoked_certificate_is_refused_by_every_check_and_listed_on_the_crl(make_station, operator_admin):
    station = make_station("CP-1")
    issued = issue(station)
    certificate = crypto.certificate_load(issued.certificate_pem)
    assert not selectors.certificate_revoked(certificate)
    assert not selectors.certificate_is_revoked(issued.serial_number)

    assert services.certificate_revoke(certificate=issued, reason="keyCompromise", revoked_by=operator_admin)
    assert not services.certificate_revoke(certificate=issued, reason="superseded")  # again: nothing changes
    assert issued.revocation_reason == "keyCompromise"
    assert selectors.certificate_is_revoked(issued.serial_number)
    assert selectors.certificate_is_revoked(certificate.serial_number)  # as an int, as TLS gives it
    assert selectors.certificate_is_revoked("0x" + issued.serial_number.upper())
    assert not selectors.certificate_is_revoked("abc123") and not selectors.certificate_is_revoked("not hex")
    assert selectors.certificate_revoked(certificate)  # what the profile-3 login asks (registered in pki.apps)

    response = Client().get("/pki/crl.der")  # public: no login
    assert response.status_code == 200 and response["Content-Type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(response.content)
    ca = crypto.certificate_load(CertificateAuthority.objects.get().certificate_pem)
    assert crl.is_signature_valid(ca.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert x509.load_pem_x509_crl(Client().get("/pki/crl.pem").content).is_signature_valid(ca.public_key())
    assert x509.load_pem_x509_certificate(Client().get("/pki/ca.pem").content) == ca


def test_the_same_csr_after_revocation_gets_a_new_certificate(make_station):
    station = make_station("CP-1")
    csr = csr_pem("CP-1")
    first = issue(station, csr=csr)
    assert issue(station, csr=csr).pk == first.pk
    services.certificate_revoke(certificate=first)
    renewed = issue(station, csr=csr)
    assert renewed.pk != first.pk and renewed.serial_number != first.serial_number


def test_a_certificate_not_from_our_station_ca_expired_or_for_another_station_logs_no_station_in(
    make_station, settings, behind_tls_proxy
):
    settings.CMS_PKI_CERTIFICATE_VALIDITY_DAYS = 1
    station = make_station("CP-1", password=None, security_profile=PROFILE_3)
    make_station("CP-2", password=None, security_profile=PROFILE_3)
    expired = issue(station, now=timezone.now() - timedelta(days=2))
    issued = issue(station)
    assert profile_3_login(issued.certificate_pem) == station
    assert profile_3_login(issued.certificate_pem, "CP-2") is None  # CP-1's certificate

    assert "expired" in forwarded(expired.certificate_pem).refusal
    assert profile_3_login(expired.certificate_pem) is None

    # A CA of the same name as ours: its certificates carry our issuer name, not our signature.
    ours = crypto.certificate_load(CertificateAuthority.objects.get().certificate_pem)
    name = {"common_name": app_settings.CA_COMMON_NAME, "organization": app_settings.ORGANIZATION}
    other_ca, other_key = crypto.ca_generate(**name, valid_days=9, now=timezone.now())
    foreign = crypto.certificate_issue(
        crypto.csr_load(csr_pem("CP-1")), ca_certificate=other_ca, ca_key=other_key, valid_days=5, now=timezone.now()
    )
    assert foreign.issuer == ours.subject
    assert "not issued by a CA of CMS_OCPP_CLIENT_CA_FILE" in forwarded(crypto.pem(foreign)).refusal
    assert profile_3_login(crypto.pem(foreign)) is None

    v2g_pki()  # its CPO Sub-CA signs an SECC certificate of any CN: never a station's login
    secc = services.certificate_sign_request(
        station=station, csr=csr_pem("CP-1"), certificate_type=IssuedCertificate.Type.V2G
    )
    assert "not issued by a CA of CMS_OCPP_CLIENT_CA_FILE" in forwarded(secc.certificate_pem).refusal
    assert profile_3_login(secc.certificate_pem) is None

    assert "does not parse" in forwarded("garbage").refusal
    assert profile_3_login("garbage") is None


@pytest.mark.parametrize(("role", "expected"), [("operator_admin", 200), ("technician", 403), ("analyst", 403)])
def test_only_operator_admins_revoke_through_the_api(make_station, operator_admin, django_user_model, role, expected):
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    issued = issue(make_station("CP-1"))
    if role == "operator_admin":
        user = operator_admin
    else:
        user = django_user_model.objects.create_user(
            email=f"{role}@example.com", password="x-pass-12345", is_staff=True
        )
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    api = APIClient()
    api.force_authenticate(user)
    assert api.get("/api/pki/certificates/").json()["count"] == 1  # every one of them reads
    response = api.post(f"/api/pki/certificates/{issued.serial_number}/revoke/", {"reason": "superseded"})
    assert response.status_code == expected, response.content
    issued.refresh_from_db()
    assert issued.is_revoked == (expected == 200)
    if expected == 200:
        assert response.json()["revocation_reason"] == "superseded"
        assert api.get("/api/pki/certificates/?revoked=true").json()["count"] == 1
    bad = api.post(f"/api/pki/certificates/{issued.serial_number}/revoke/", {"reason": "because"})
    assert bad.status_code == (400 if expected == 200 else 403)


def test_the_station_certificates_page_shows_them_and_revokes(make_station, operator_admin):
    issued = issue(make_station("CP-1"))
    portal = Client()
    portal.force_login(operator_admin)
    assert "/operator/stations/CP-1/certificates/" in portal.get("/operator/stations/CP-1/").content.decode()
    page = portal.get("/operator/stations/CP-1/certificates/")
    assert page.status_code == 200
    assert issued.serial_number[:15] in page.content.decode()
    assert "Read from the station" in page.content.decode()
    done = portal.post(
        f"/operator/stations/CP-1/certificates/{issued.serial_number}/revoke/", {"reason": "superseded"}, follow=True
    )
    assert "revoked: it is on the CRL" in done.content.decode()
    assert selectors.certificate_is_revoked(issued.serial_number)


# The CA itself


def test_the_ca_key_is_stored_encrypted_and_a_wrong_passphrase_stops_signing_with_a_clear_reason(
    make_station, settings
):
    station = make_station("CP-1")
    issue(station)
    stored = CertificateAuthority.objects.get().private_key_pem
    assert stored.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    settings.CMS_PKI_KEY_PASSPHRASE = "not the one it was stored with"
    with pytest.raises(services.PkiUnavailable, match="CMS_PKI_KEY_PASSPHRASE"):
        issue(station, csr=csr_pem("CP-1"))


def test_pki_export_ca_writes_the_ca_certificate_for_daphne(tmp_path, settings):
    target = tmp_path / "tls" / "client-ca.pem"
    settings.CMS_OCPP_CLIENT_CA_FILE = str(target)
    call_command("pki_export_ca", stdout=open(tmp_path / "out", "w"))
    [written] = x509.load_pem_x509_certificates(target.read_bytes())
    assert crypto.fingerprint(written) == CertificateAuthority.objects.get().fingerprint_sha256
    assert target.stat().st_mode & 0o777 == 0o644


def test_an_imported_ca_issues_from_then_on_and_the_old_one_stays_for_its_certificates(
    make_station, tmp_path, behind_tls_proxy
):
    station = make_station("CP-1", password=None, security_profile=PROFILE_3)
    old = issue(station)
    ca_certificate, ca_key = crypto.ca_generate(
        common_name="Imported CA", organization="x", valid_days=100, now=timezone.now()
    )
    (tmp_path / "ca.pem").write_text(crypto.pem(ca_certificate))
    (tmp_path / "ca.key").write_text(crypto.key_encrypt(ca_key, b"file passphrase"))
    with pytest.raises(CommandError, match="private key cannot be read"):
        call_command("pki_import_ca", str(tmp_path / "ca.pem"), str(tmp_path / "ca.key"))
    (tmp_path / "other.key").write_text(crypto.key_encrypt(key_of(), b"file passphrase"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PKI_IMPORT_KEY_PASSPHRASE", "file passphrase")
        with pytest.raises(CommandError, match="not the certificate's"):
            call_command("pki_import_ca", str(tmp_path / "ca.pem"), str(tmp_path / "other.key"))
        call_command(
            "pki_import_ca", str(tmp_path / "ca.pem"), str(tmp_path / "ca.key"), stdout=open(tmp_path / "o", "w")
        )

    assert selectors.authority_active().name == "O=x,CN=Imported CA"
    new = issue(station, csr=csr_pem("CP-1"))
    crypto.certificate_load(new.certificate_pem).verify_directly_issued_by(ca_certificate)
    assert profile_3_login(new.certificate_pem) == station
    assert profile_3_login(old.certificate_pem) == station  # the old CA stays in the CA file
    assert CertificateAuthority.objects.count() == 2


def test_the_v2g_ca_is_imported_beside_the_station_ca_and_stays_out_of_the_client_ca_file(tmp_path, settings):
    station_ca = services.authority_ensure()
    v2g = v2g_pki()
    assert selectors.authority_active() == station_ca
    assert selectors.authority_active(CertificateAuthority.Purpose.V2G) == v2g.authority
    assert v2g.authority.chain_pem == crypto.pem(v2g.sub_ca_1)

    target = tmp_path / "client-ca.pem"
    settings.CMS_OCPP_CLIENT_CA_FILE = str(target)
    call_command("pki_export_ca", stdout=open(tmp_path / "out", "w"))
    assert [crypto.fingerprint(c) for c in x509.load_pem_x509_certificates(target.read_bytes())] == [
        station_ca.fingerprint_sha256
    ]

    (tmp_path / "ca.pem").write_text(station_ca.certificate_pem)
    key = crypto.key_decrypt(station_ca.private_key_pem, app_settings.KEY_PASSPHRASE)
    (tmp_path / "ca.key").write_text(crypto.key_encrypt(key, b"file passphrase"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PKI_IMPORT_KEY_PASSPHRASE", "file passphrase")
        with pytest.raises(CommandError, match="one CA, one purpose"):
            call_command("pki_import_ca", "--v2g", str(tmp_path / "ca.pem"), str(tmp_path / "ca.key"))
    assert selectors.authority_active(CertificateAuthority.Purpose.V2G) == v2g.authority


@given(
    warning=st.integers(min_value=0, max_value=400),
    critical=st.integers(min_value=0, max_value=400),
    seconds_left=st.integers(min_value=-(10**8), max_value=10**8),
)
def test_the_expiry_alert_follows_the_thresholds_and_never_softens_as_expiry_nears(warning, critical, seconds_left):
    now = timezone.now()
    not_after = now + timedelta(seconds=seconds_left)
    with override_settings(CMS_PKI_EXPIRY_WARNING_DAYS=warning, CMS_PKI_EXPIRY_CRITICAL_DAYS=critical):
        severity = services.expiry_severity(not_after, now)
        later = services.expiry_severity(not_after, now + timedelta(hours=1))
    left = timedelta(seconds=seconds_left)
    assert (severity == Severity.CRITICAL) == (left <= timedelta(days=critical))
    assert (severity is None) == (left > timedelta(days=max(warning, critical)))
    rank = {None: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
    assert rank[later] >= rank[severity]
