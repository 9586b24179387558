"""InstallCertificate, GetInstalledCertificateIds and DeleteCertificate from the API, over the real server to the
`ocpp` library's station clients of both versions: the CA root goes on the station, is read back as ours, and is
deleted; what a version cannot do is refused with the reason before anything is sent."""

import pytest
from asgiref.sync import sync_to_async
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from pki import crypto
from pki.models import InstalledCertificate
from stations.models import Station, StationCommand
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
BOTH_VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])
# What the station calls our CSMS root in each version.
CSMS_ROOT = {"1.6": "CentralSystemRootCertificate", "2.0.1": "CSMSRootCertificate"}


def _hash_data(pem: str) -> dict:
    certificate = crypto.certificate_load(pem)
    data = crypto.hash_data(certificate, certificate)  # the roots we install are their own issuers
    return {
        "hash_algorithm": data.hash_algorithm,
        "issuer_name_hash": data.issuer_name_hash,
        "issuer_key_hash": data.issuer_key_hash,
        "serial_number": data.serial_number,
    }


class Holding:
    """A station's certificate store: (type, PEM) pairs."""

    held: list

    def _delete(self, certificate_hash_data):
        kept = [(kind, pem) for kind, pem in self.held if _hash_data(pem) != certificate_hash_data]
        found = len(kept) < len(self.held)
        self.held[:] = kept
        return "Accepted" if found else "NotFound"


class Station16(Holding, ChargePoint16):
    @on(Action16.install_certificate)
    def on_install(self, certificate_type, certificate, **_):
        self.held.append((certificate_type, certificate))
        return result16.InstallCertificate(status="Accepted")

    @on(Action16.get_installed_certificate_ids)
    def on_installed(self, certificate_type, **_):
        found = [_hash_data(pem) for kind, pem in self.held if kind == certificate_type]
        if not found:
            return result16.GetInstalledCertificateIds(status="NotFound")
        return result16.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=found)

    @on(Action16.delete_certificate)
    def on_delete(self, certificate_hash_data, **_):
        return result16.DeleteCertificate(status=self._delete(certificate_hash_data))


class Station201(Holding, ChargePoint201):
    @on(Action201.install_certificate)
    def on_install(self, certificate_type, certificate, **_):
        self.held.append((certificate_type, certificate))
        return result201.InstallCertificate(status="Accepted")

    @on(Action201.get_installed_certificate_ids)
    def on_installed(self, certificate_type=None, **_):
        found = [
            {"certificate_type": kind, "certificate_hash_data": _hash_data(pem)}
            for kind, pem in self.held
            if not certificate_type or kind in certificate_type
        ]
        if not found:
            return result201.GetInstalledCertificateIds(status="NotFound")
        return result201.GetInstalledCertificateIds(status="Accepted", certificate_hash_data_chain=found)

    @on(Action201.delete_certificate)
    def on_delete(self, certificate_hash_data, **_):
        return result201.DeleteCertificate(status=self._delete(certificate_hash_data))


CLIENTS = {"1.6": Station16, "2.0.1": Station201}


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


@pytest.fixture
def admin_api(operator_admin):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=operator_admin).key}")
    return client


def connected(server, version):
    client_class = type(f"Holding{version}", (CLIENTS[version],), {"held": []})
    return ocpp_connection(
        server, "CP-1", STATION_PASSWORD, subprotocols=(SUBPROTOCOL[version],), client_class=client_class
    )


async def wait_online():
    await until(
        lambda: Station.objects.filter(ocpp_id="CP-1", is_online=True).exclude(channel_name="").aexists(),
        within=5,
        what="CP-1 online",
        every=0.02,
    )


def post(api, path, data=None):
    return sync_to_async(api.post, thread_sensitive=False)(
        f"/api/stations/CP-1/certificates/{path}", data or {}, format="json"
    )


@pytest.mark.django_db(transaction=True)
@BOTH_VERSIONS
async def test_install_read_and_delete_the_ca_root_on_a_station(daphne_server, make_station, admin_api, version):
    await sync_to_async(make_station)("CP-1")
    async with connected(daphne_server, version) as client:
        await wait_online()

        installed = await post(admin_api, "install/")
        assert installed.status_code == 200, installed.json()
        assert installed.json()["outcome"] == "accepted"
        [(kind, pem)] = client.held
        assert kind == CSMS_ROOT[version]
        ca = await sync_to_async(lambda: admin_api.get("/api/pki/authority/").json(), thread_sensitive=False)()
        assert pem == ca["certificate_pem"]

        read = await post(admin_api, "installed/read/")
        body = read.json()
        assert read.status_code == 200, body
        assert body["outcome"] == "accepted"  # 1.6: its CSMS root found, though no manufacturer root
        [held] = body["installed"]
        assert held["certificate_type"] == "CSMSRootCertificate"
        assert held["is_ours"] is True
        assert held["serial_number"] == ca["serial_number"]

        deleted = await post(admin_api, "delete/", {"installed_id": held["id"]})
        assert deleted.status_code == 200, deleted.json()
        assert deleted.json()["outcome"] == "accepted"
        assert deleted.json()["installed"] == []
        assert client.held == []

        again = await post(admin_api, "delete/", {k: held[k] for k in _hash_data(pem)})
        assert again.json()["outcome"] == "nothing_to_do"
        assert again.json()["command"]["response"] == {"status": "NotFound"}

    actions = [c.action async for c in StationCommand.objects.filter(station__ocpp_id="CP-1").order_by("created_at")]
    # 1.6 lists one type at a time: the CSMS root, then the manufacturer root.
    reads = ["GetInstalledCertificateIds"] * (2 if version == "1.6" else 1)
    assert actions == ["InstallCertificate", *reads, "DeleteCertificate", "DeleteCertificate"]


@pytest.mark.django_db(transaction=True)
async def test_a_root_given_as_pem_is_installed_as_the_type_asked(daphne_server, make_station, admin_api):
    await sync_to_async(make_station)("CP-1")
    from tests.pki.test_crypto import NOW

    root, _ = crypto.ca_generate(common_name="Maker root", organization="Maker", valid_days=10, now=NOW)
    async with connected(daphne_server, "2.0.1") as client:
        await wait_online()
        response = await post(
            admin_api, "install/", {"certificate_type": "ManufacturerRootCertificate", "certificate": crypto.pem(root)}
        )
        assert response.json()["outcome"] == "accepted"
        assert client.held == [("ManufacturerRootCertificate", crypto.pem(root))]
        read = await post(admin_api, "installed/read/", {"certificate_type": "ManufacturerRootCertificate"})
        [held] = read.json()["installed"]
        assert held["is_ours"] is False and held["certificate_type"] == "ManufacturerRootCertificate"


@pytest.mark.django_db(transaction=True)
async def test_what_16_lacks_is_refused_with_the_reason_and_nothing_is_sent(daphne_server, make_station, admin_api):
    await sync_to_async(make_station)("CP-1")
    async with connected(daphne_server, "1.6") as client:
        await wait_online()
        response = await post(admin_api, "install/", {"certificate_type": "V2GRootCertificate"})
        assert response.status_code == 400
        assert "only CSMS and manufacturer root" in response.json()["detail"]
        bad_pem = await post(admin_api, "install/", {"certificate": "not a certificate"})
        assert bad_pem.status_code == 400
        assert "Not a PEM certificate" in bad_pem.json()["detail"]
    assert client.held == []
    assert not await StationCommand.objects.aexists()


@pytest.mark.django_db(transaction=True)
async def test_an_offline_station_is_told_and_its_stored_list_kept(daphne_server, make_station, admin_api):
    station = await sync_to_async(make_station)("CP-1", ocpp_version="2.0.1")
    await InstalledCertificate.objects.acreate(
        station=station,
        certificate_type="CSMSRootCertificate",
        hash_algorithm="SHA256",
        issuer_name_hash="ab",
        issuer_key_hash="cd",
        serial_number="1",
        read_at=station.created_at,
    )
    response = await post(admin_api, "installed/read/")
    assert response.status_code == 409
    assert response.json()["outcome"] is None
    assert "not connected" in response.json()["detail"]
    assert await InstalledCertificate.objects.acount() == 1


@pytest.mark.django_db(transaction=True)
async def test_the_station_page_installs_the_root_and_shows_it_held_after_a_read(
    daphne_server, make_station, operator_admin
):
    from django.test import Client

    await sync_to_async(make_station)("CP-1")
    portal = Client()
    await sync_to_async(portal.force_login)(operator_admin)
    portal_post = sync_to_async(portal.post, thread_sensitive=False)
    async with connected(daphne_server, "1.6") as client:
        await wait_online()
        page = await portal_post(
            "/operator/stations/CP-1/certificates/install/", {"certificate_type": "CSMSRootCertificate"}, follow=True
        )
        assert "Certificate installed. The station answered Accepted." in page.content.decode()
        assert [kind for kind, _ in client.held] == ["CentralSystemRootCertificate"]
        page = await portal_post("/operator/stations/CP-1/certificates/read/", {"certificate_type": ""}, follow=True)
    html = page.content.decode()
    assert "Installed certificates read." in html
    assert "(this CSMS&#x27;s CA)" in html or "(this CSMS's CA)" in html
