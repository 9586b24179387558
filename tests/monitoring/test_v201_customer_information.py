"""OCPP 2.0.1 customer information (N09/N10) end to end: an operator asks a station (the `ocpp` library's 2.0.1
client, over a real socket) to report and/or clear a customer's data by ID token, identifier or certificate, and
reads the report the station sends back in parts."""

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from monitoring.models import CustomerInformationRequest
from tests.monitoring.support import client_for
from tests.monitoring.v201_support import NOW, booted, post
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

# What the station keeps about token 04A1B2C3, sent back in three parts (512 characters at most each).
REPORT = ["Sessions: 2026-02-01 12.4 kWh; ", "2026-02-09 30.1 kWh; ", "cached: Accepted until 2026-03-31"]


class CustomerStation(ChargePoint):
    """Knows token 04A1B2C3 (reports it in parts), refuses certificates, and forgets what it is told to clear."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests = []

    @on(Action.customer_information)
    def on_request(self, request_id, report, clear, **customer):
        self.requests.append({"report": report, "clear": clear, **customer})
        return call_result.CustomerInformation(status="Rejected" if "customer_certificate" in customer else "Accepted")

    @after(Action.customer_information)
    async def send_report(self, request_id, report, **customer):
        if not report or "customer_certificate" in customer:
            return
        known = customer.get("id_token", {}).get("id_token") == "04A1B2C3"
        parts = REPORT if known else ["No data"]
        for seq_no, data in enumerate(parts):
            await self.call(
                call.NotifyCustomerInformation(
                    data=data, seq_no=seq_no, generated_at=NOW, request_id=request_id, tbc=seq_no < len(parts) - 1
                )
            )


@pytest.fixture
def station(make_station):
    return make_station("CS-201")


@pytest.fixture
def portal(technician):
    return client_for(technician)


REQUEST_URL = reverse("stations:station-customer-information-request", args=["CS-201"])


async def test_a_report_by_id_token_arrives_in_parts_and_the_operator_reads_it_whole(daphne_server, station, portal):
    async with booted(daphne_server, CustomerStation) as cp:
        response = await sync_to_async(portal.post)(
            REQUEST_URL, {"report": "on", "id_token": "04A1B2C3", "id_token_type": "ISO14443"}, follow=True
        )
        assert [str(message) for message in response.context["messages"]] == ["CustomerInformation: Accepted"]
        assert cp.requests == [
            {"report": True, "clear": False, "id_token": {"id_token": "04A1B2C3", "type": "ISO14443"}}
        ]
        found = await CustomerInformationRequest.objects.aget()

        async def complete():
            await found.arefresh_from_db()
            return found.is_complete

        await until(complete, what="all three parts stored")
    assert (found.status, found.data) == ("Accepted", "".join(REPORT))
    page = await sync_to_async(portal.get)(reverse("stations:customer-information", args=["CS-201", found.pk]))
    text = page.content.decode()
    assert "".join(REPORT) in text and "complete, 3 parts" in text and "04A1B2C3" in text


async def test_clear_by_identifier_and_a_rejected_certificate_request_are_shown_as_answered(
    daphne_server, station, portal
):
    certificate = {"hash_algorithm": "SHA256", "issuer_name_hash": "a1", "issuer_key_hash": "b2", "serial_number": "0F"}
    async with booted(daphne_server, CustomerStation) as cp:
        _, shown = await post(portal, REQUEST_URL, {"clear": "on", "customer_identifier": "customer-42"})
        assert shown == [("success", "CustomerInformation: Accepted")]
        _, shown = await post(portal, REQUEST_URL, {"report": "on", **certificate})
        assert shown == [("warning", "CustomerInformation: Rejected")]
    assert cp.requests[0] == {"report": False, "clear": True, "customer_identifier": "customer-42"}
    assert cp.requests[1]["customer_certificate"] == {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": "a1",
        "issuer_key_hash": "b2",
        "serial_number": "0F",
    }
    statuses = [found.status async for found in CustomerInformationRequest.objects.order_by("pk")]
    assert statuses == ["Accepted", "Rejected"]


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"id_token": "04A1B2C3"}, "Ask for a report, a clearing, or both."),
        ({"report": "on"}, "Name the customer by exactly one of ID token, identifier or certificate."),
        (
            {"report": "on", "id_token": "04A1B2C3", "customer_identifier": "c-1"},
            "Name the customer by exactly one of ID token, identifier or certificate.",
        ),
        (
            {"report": "on", "serial_number": "0F"},
            "A customer certificate needs its hash algorithm, both hashes and serial.",
        ),
    ],
)
def test_a_request_that_names_no_one_or_asks_nothing_is_not_sent(station, portal, form, reason):
    response = portal.post(REQUEST_URL, {"id_token_type": "ISO14443", **form}, follow=True)
    assert [str(message) for message in response.context["messages"]] == [f"Nothing was sent. {reason}"]
    assert not CustomerInformationRequest.objects.exists()


def test_a_1_6_station_is_told_and_customer_data_is_only_for_those_who_command(make_station, portal, analyst):
    make_station("CS-16", ocpp_version="1.6")
    url = reverse("stations:station-customer-information-request", args=["CS-16"])
    response = portal.post(url, {"report": "on", "customer_identifier": "c-1", "id_token_type": "Central"}, follow=True)
    assert [str(message) for message in response.context["messages"]] == [
        "Nothing was sent. Customer information requests are not in OCPP 1.6: the station must speak OCPP 2.0.1."
    ]
    viewer = client_for(analyst)
    assert viewer.get(reverse("stations:station-customer-information", args=["CS-16"])).status_code == 403
