"""Signed firmware: the signature checked against the file on upload (portal and API), and the signed update sent
by the maintenance jobs (1.6 SignedUpdateFirmware with the security extension, 2.0.1 UpdateFirmware with signature)
to stations of the `ocpp` library that download the file and verify it themselves, over real sockets."""

import asyncio
import base64
import hashlib
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

from monitoring import alerts, firmware_signing, maintenance
from monitoring.models import Alert, FirmwareImage, MaintenanceJob, MaintenanceTarget
from stations.models import Station
from stations.protocol.commands import payload_errors
from tests.factories import STATION_PASSWORD
from tests.monitoring.support import client_for
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

Kind = MaintenanceJob.Kind
FIRMWARE = b"\x7fVGFW-signed" + bytes(range(256)) * 16
PREHASHED = utils.Prehashed(hashes.SHA256())


def signing_pair(*, key=None, days=(-1, 365)) -> tuple[object, str]:
    """A firmware signing key and its self-signed certificate (PEM), valid ``days`` around now."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Voltgrid firmware signing (test)")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days[0]))
        .not_valid_after(now + timedelta(days=days[1]))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()


def sign(key, data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    if isinstance(key, rsa.RSAPrivateKey):
        return base64.b64encode(key.sign(digest, padding.PKCS1v15(), PREHASHED)).decode()
    return base64.b64encode(key.sign(digest, ec.ECDSA(PREHASHED))).decode()


def verifies(certificate_pem: str, signature: str, data: bytes) -> bool:
    """What a station does before installing."""
    key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    try:
        key.verify(base64.b64decode(signature), hashlib.sha256(data).digest(), ec.ECDSA(PREHASHED))
    except InvalidSignature:
        return False
    return True


@pytest.fixture
def signer():
    return signing_pair()


@sync_to_async
def upload_signed(key, certificate, data=FIRMWARE, version="2.0.0-signed") -> FirmwareImage:
    return maintenance.firmware_upload(
        file=SimpleUploadedFile("fw-signed.bin", data),
        name="Signed",
        version=version,
        signing_certificate=certificate,
        signature=sign(key, data),
    )


@sync_to_async
def run_job(stations, firmware, params=None) -> MaintenanceJob:
    """With Celery in-process, the job has sent its commands when this returns."""
    return maintenance.maintenance_job_create(
        kind=Kind.FIRMWARE, stations=stations, params=params or {}, firmware=firmware
    )


@sync_to_async
def target_of(job) -> MaintenanceTarget:
    maintenance.maintenance_jobs_refresh(job=job)
    return job.targets.select_related("command").get()


# The machine running the suite may be busy: a station's download and install get time.
UPDATE_WITHIN = 30.0


def download(location: str) -> bytes:
    with urllib.request.urlopen(location, timeout=UPDATE_WITHIN) as response:
        return response.read()


# Upload


def test_the_portal_refuses_a_signature_that_does_not_match_the_file(client, technician, signer):
    key, certificate = signer
    client.force_login(technician)
    response = client.post(
        "/operator/firmware/",
        {
            "name": "Signed",
            "version": "2",
            "file": SimpleUploadedFile("fw.bin", FIRMWARE),
            "signing_certificate": certificate,
            "signature": sign(key, FIRMWARE + b"tampered"),
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["signature"] == [
        "The signature does not match the file's SHA-256 with this certificate's key."
    ]
    assert not FirmwareImage.objects.exists()


def test_the_portal_keeps_a_matching_signature_and_says_so(client, technician, signer):
    key, certificate = signer
    client.force_login(technician)
    response = client.post(
        "/operator/firmware/",
        {
            "name": "Signed",
            "version": "2",
            "file": SimpleUploadedFile("fw.bin", FIRMWARE),
            "signing_certificate": certificate,
            "signature": sign(key, FIRMWARE),
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "signature verified" in str(next(iter(response.context["messages"])))
    image = FirmwareImage.objects.get()
    assert image.is_signed and verifies(image.signing_certificate, image.signature, FIRMWARE)
    assert b">signed<" in response.content


def test_the_api_refuses_a_mismatching_signature_with_400_and_accepts_a_matching_one(technician, signer):
    key, certificate = signer
    other_key, _ = signing_pair()
    api = client_for(technician)
    refused = api.post(
        "/api/firmware/",
        {
            "name": "Signed",
            "version": "2",
            "file": SimpleUploadedFile("fw.bin", FIRMWARE),
            "signing_certificate": certificate,
            "signature": sign(other_key, FIRMWARE),
        },
    )
    assert refused.status_code == 400
    assert "does not match" in refused.json()["signature"][0]
    accepted = api.post(
        "/api/firmware/",
        {
            "name": "Signed",
            "version": "2",
            "file": SimpleUploadedFile("fw.bin", FIRMWARE),
            "signing_certificate": certificate,
            "signature": sign(key, FIRMWARE),
        },
    )
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["signed"] is True
    image = FirmwareImage.objects.get()
    assert accepted.json()["signature"] == image.signature and verifies(certificate, image.signature, FIRMWARE)


@pytest.mark.parametrize(
    ("certificate", "signature", "field", "message"),
    [
        ("not a certificate", "AAAA", "signing_certificate", "Not a PEM certificate."),
        (None, "not base64!", "signature", "Not base64."),
        (None, "", "signature", "Signed firmware needs both the certificate and the signature."),
        ("expired", None, "signing_certificate", "not now: stations would answer InvalidCertificate."),
    ],
)
def test_unusable_signatures_are_refused_with_the_reason(db, signer, certificate, signature, field, message):
    key, good_certificate = signer
    if certificate == "expired":
        key, certificate = signing_pair(key=key, days=(-30, -1))
    with pytest.raises(maintenance.MaintenanceError) as refused:
        maintenance.firmware_upload(
            file=SimpleUploadedFile("fw.bin", FIRMWARE),
            name="Signed",
            version="2",
            signing_certificate=good_certificate if certificate is None else certificate,
            signature=sign(key, FIRMWARE) if signature is None else signature,
        )
    assert list(refused.value.errors) == [field]
    assert refused.value.errors[field][0].endswith(message)


PROPERTY_KEY, PROPERTY_CERTIFICATE = signing_pair()


@hypothesis_settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=2048), flip=st.integers(min_value=0))
def test_a_signature_verifies_for_its_file_and_for_no_file_one_bit_away(data, flip):
    signature = sign(PROPERTY_KEY, data)
    firmware_signing.signature_check(
        digest=hashlib.sha256(data).digest(), certificate_pem=PROPERTY_CERTIFICATE, signature_b64=signature
    )
    bit = flip % (len(data) * 8)
    altered = bytearray(data)
    altered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(firmware_signing.SignatureRefused):
        firmware_signing.signature_check(
            digest=hashlib.sha256(bytes(altered)).digest(),
            certificate_pem=PROPERTY_CERTIFICATE,
            signature_b64=signature,
        )


def test_firmware_is_signed_with_the_configured_rsa_key_on_request(db, settings, tmp_path):
    key, certificate = signing_pair(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (tmp_path / "cert.pem").write_text(certificate)
    settings.CMS_FIRMWARE_SIGNING_KEY = str(tmp_path / "key.pem")
    settings.CMS_FIRMWARE_SIGNING_CERTIFICATE = str(tmp_path / "cert.pem")
    image = maintenance.firmware_upload(file=SimpleUploadedFile("fw.bin", FIRMWARE), name="Own", version="3", sign=True)
    public = x509.load_pem_x509_certificate(image.signing_certificate.encode()).public_key()
    public.verify(base64.b64decode(image.signature), FIRMWARE, padding.PKCS1v15(), hashes.SHA256())  # raises if not


def test_signing_without_a_configured_key_is_refused(db):
    with pytest.raises(maintenance.MaintenanceError) as refused:
        maintenance.firmware_upload(file=SimpleUploadedFile("fw.bin", FIRMWARE), name="Own", version="3", sign=True)
    assert refused.value.errors == {"sign": ["No signing key is configured (CMS_FIRMWARE_SIGNING_KEY)."]}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_the_signed_update_is_a_valid_call_of_each_version(signer, version, settings):
    settings.CMS_STATION_FILES_URL = "https://csms.example.com"
    key, certificate = signer
    image = FirmwareImage(
        file="firmware/2030/01/fw.bin", signing_certificate=certificate, signature=sign(key, FIRMWARE)
    )
    action, payload = maintenance.build_call(
        Kind.FIRMWARE,
        ocpp_version=version,
        params={"retries": 1},
        target=MaintenanceTarget(pk=7, token="tok"),
        firmware=image,
        station=Station(ocpp_id="CP-1"),
        signed=True,
    )
    assert action == ("SignedUpdateFirmware" if version == "1.6" else "UpdateFirmware")
    assert payload["firmware"]["signature"] == image.signature
    assert payload_errors(action=action, payload=payload, ocpp_version=version) == []


# Stations that check the signature themselves


class Station16(ChargePoint16):
    """A 1.6 station with the security extension: answers ``answer`` to SignedUpdateFirmware; when it accepts,
    downloads, verifies, installs (or reports InvalidSignature)."""

    answer = "Accepted"
    tamper = False  # the download is altered on the way: the signature no longer verifies

    @on(Action16.signed_update_firmware)
    def on_signed_update_firmware(self, request_id, firmware, **_):
        self.received = ("SignedUpdateFirmware", firmware)
        return result16.SignedUpdateFirmware(status=self.answer)

    @on(Action16.update_firmware)
    def on_update_firmware(self, location, retrieve_date, **_):
        self.received = ("UpdateFirmware", {"location": location})
        return result16.UpdateFirmware()

    @after(Action16.signed_update_firmware)
    async def install(self, request_id, firmware, **_):
        if self.answer != "Accepted":
            return

        async def report(status):
            await self.call(call16.SignedFirmwareStatusNotification(status=status, request_id=request_id))

        await report("Downloading")
        data = await asyncio.to_thread(download, firmware["location"])
        await report("Downloaded")
        if not verifies(firmware["signing_certificate"], firmware["signature"], data + (b"x" if self.tamper else b"")):
            await report("InvalidSignature")
            return
        for status in ("SignatureVerified", "Installing", "Installed"):
            await report(status)


class Station201(ChargePoint201):
    """A 2.0.1 station: answers ``answer`` to UpdateFirmware; when it accepts, verifies and reports as Station16."""

    answer = "Accepted"
    tamper = False

    @on(Action201.update_firmware)
    def on_update_firmware(self, request_id, firmware, **_):
        self.received = ("UpdateFirmware", firmware)
        return result201.UpdateFirmware(status=self.answer)

    @after(Action201.update_firmware)
    async def install(self, request_id, firmware, **_):
        if self.answer != "Accepted":
            return

        async def report(status):
            await self.call(call201.FirmwareStatusNotification(status=status, request_id=request_id))

        data = await asyncio.to_thread(download, firmware["location"])
        if not verifies(firmware["signing_certificate"], firmware["signature"], data + (b"x" if self.tamper else b"")):
            await report("InvalidSignature")
            return
        for status in ("SignatureVerified", "Installing", "Installed"):
            await report(status)


STATIONS = {"1.6": Station16, "2.0.1": Station201}


async def connected(server, ocpp_id, version, client_class):
    station = await sync_to_async(Station.objects.get)(ocpp_id=ocpp_id)
    subprotocol = "ocpp2.0.1" if version == "2.0.1" else "ocpp1.6"
    connection = ocpp_connection(
        server, ocpp_id, STATION_PASSWORD, subprotocols=(subprotocol,), client_class=client_class
    )
    client = await connection.__aenter__()

    async def online():
        return await Station.objects.filter(pk=station.pk, is_online=True, ocpp_version=version).aexists()

    await until(online, what="the station online")
    return station, client, connection


@pytest.fixture
def make_16_station(make_station):
    def make(ocpp_id, *, extension=True):
        station = make_station(ocpp_id)
        if extension:
            # As a GetConfiguration of a station with the security extension leaves it.
            maintenance.configuration_store(station=station, keys=[{"key": "SecurityProfile", "value": "1"}])
        return station

    return make


async def finished(job) -> bool:
    target = await target_of(job)
    return target.is_finished


async def test_a_16_station_with_the_security_extension_verifies_and_installs_signed_firmware(
    daphne_server, files_url, make_16_station, signer
):
    await sync_to_async(make_16_station)("SF-16")
    image = await upload_signed(*signer)
    station, client, connection = await connected(daphne_server, "SF-16", "1.6", Station16)
    try:
        job = await run_job([station], image)
        await until(lambda: finished(job), what="the update to finish", within=UPDATE_WITHIN)
    finally:
        await connection.__aexit__(None, None, None)
    target = await target_of(job)
    assert (target.status, target.progress, target.command.action) == ("succeeded", "Installed", "SignedUpdateFirmware")
    action, firmware = client.received
    assert action == "SignedUpdateFirmware" and firmware["signature"] == image.signature
    assert firmware["signing_certificate"] == image.signing_certificate


@pytest.mark.parametrize("version", ["2.0.1", "1.6"])
async def test_a_tampered_download_is_refused_by_the_station_and_shown_as_invalid_signature(
    daphne_server, files_url, make_16_station, signer, technician, version
):
    await sync_to_async(make_16_station)("SF-T")  # a 2.0.1 station ignores the 1.6 configuration
    image = await upload_signed(*signer)
    station_class = STATIONS[version]
    station_class.tamper = True
    try:
        station, client, connection = await connected(daphne_server, "SF-T", version, station_class)
        try:
            job = await run_job([station], image)
            await until(lambda: finished(job), what="the update to finish", within=UPDATE_WITHIN)
        finally:
            await connection.__aexit__(None, None, None)
    finally:
        station_class.tamper = False
    target = await target_of(job)
    assert (target.status, target.progress) == ("failed", "InvalidSignature")
    assert target.detail == (
        "The station reported InvalidSignature: the firmware's signature did not verify with its signing "
        "certificate; it was not installed."
    )
    assert client.received[1]["signature"] == image.signature
    api = await sync_to_async(client_for)(technician)
    shown = (await sync_to_async(api.get)(f"/api/maintenance/jobs/{job.pk}/")).json()
    assert [(t["status"], t["progress"]) for t in shown["targets"]] == [("failed", "InvalidSignature")]
    page = await sync_to_async(api.get)(f"/operator/maintenance/{job.pk}/")
    assert b"InvalidSignature" in page.content
    (alert,) = (await sync_to_async(alerts.alerts_evaluate)()).opened
    assert alert.kind == "firmware_failed" and "InvalidSignature" in alert.summary


@pytest.mark.parametrize("version", ["2.0.1", "1.6"])
@pytest.mark.parametrize(
    ("answer", "what"), [("InvalidCertificate", "is not valid"), ("RevokedCertificate", "has been revoked")]
)
async def test_a_refused_signing_certificate_is_shown_as_such_and_alerted(
    daphne_server, files_url, make_16_station, signer, answer, what, version
):
    await sync_to_async(make_16_station)("SF-C")
    image = await upload_signed(*signer)
    station_class = STATIONS[version]
    station_class.answer = answer
    try:
        station, _, connection = await connected(daphne_server, "SF-C", version, station_class)
        try:
            job = await run_job([station], image)
        finally:
            await connection.__aexit__(None, None, None)
    finally:
        station_class.answer = "Accepted"
    target = await target_of(job)
    assert (target.status, target.progress) == ("rejected", answer)
    assert (
        target.detail
        == f"The station answered {answer}: the firmware's signing certificate {what} for it. Not installed."
    )
    alert = await Alert.objects.aget(station=station, closed_at__isnull=True)
    assert (alert.kind, alert.subject, alert.severity) == (
        "security_event",
        "InvalidFirmwareSigningCertificate",
        "critical",
    )
    assert answer in alert.summary and f"job #{job.pk}" in alert.summary


async def test_a_16_station_without_the_extension_gets_signed_firmware_only_as_a_plain_update_when_allowed(
    daphne_server, files_url, make_16_station, signer
):
    await sync_to_async(make_16_station)("SF-OLD", extension=False)
    image = await upload_signed(*signer)
    station, client, connection = await connected(daphne_server, "SF-OLD", "1.6", Station16)
    try:
        refused = await run_job([station], image)
        allowed = await run_job([station], image, params={"allow_unsigned": True})
    finally:
        await connection.__aexit__(None, None, None)
    target = await target_of(refused)
    assert target.status == "failed" and target.command is None
    assert target.detail.startswith(
        "The firmware is signed and this OCPP 1.6 station has not shown the security extension"
    )
    target = await target_of(allowed)
    assert (target.status, target.command.action) == ("waiting", "UpdateFirmware")
    assert "signature" not in target.command.payload and client.received[0] == "UpdateFirmware"
