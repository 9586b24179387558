"""The operator's sessions: the list with its filters and totals, and a session's page with its meter curve (kWh
and SoC on axes of their own), its authorisations and, for the roles that read billing, its price and invoice."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from sessions.models import Transaction
from stations.figures import meter_curve
from tests.portal.support import SESSION_TOKEN

STAFF = ["operator_admin", "technician", "finance", "analyst"]
MONEY = ["operator_admin", "finance", "analyst"]


def _pks(response) -> list[int]:
    return [session.pk for session in response.context["page"].object_list]


@pytest.mark.parametrize("role", [*STAFF, "driver"])
def test_every_staff_role_reads_sessions_and_a_driver_gets_403(client_as, network, role):
    client = client_as(role)
    expected = 200 if role in STAFF else 403
    assert client.get("/operator/sessions/").status_code == expected
    assert client.get(f"/operator/sessions/{network.session.pk}/").status_code == expected


def test_the_list_filters_sessions(client_as, network):
    client, done, active = client_as("finance"), network.session.pk, network.active_session.pk
    today = timezone.localdate()
    cases = {
        "": [active, done],
        "station=depot-1": [done],
        f"site={network.depot.pk}": [active, done],
        f"site={network.town.pk}": [],
        f"driver={SESSION_TOKEN.lower()}": [done],
        "driver=driver@example": [done],  # the driver's e-mail
        "status=active": [active],
        "status=finished": [done],
        f"started_from={today - timedelta(days=1)}&started_to={today}": [active, done],
        f"started_from={today + timedelta(days=1)}": [],
    }
    for query, expected in cases.items():
        assert _pks(client.get(f"/operator/sessions/?{query}")) == expected, query


def test_the_totals_add_up_what_the_filters_found(client_as, network):
    client = client_as("analyst")
    response = client.get("/operator/sessions/")
    totals = response.context["totals"]
    assert (totals.sessions, totals.active, totals.energy_wh) == (2, 1, 20_000)
    assert "20.00 kWh" in response.content.decode()
    assert client.get("/operator/sessions/?status=active").context["totals"].energy_wh == 0


def test_the_list_counts_the_sessions_once_for_its_totals_and_its_pages(client_as, network):
    """At a year of a national network an unfiltered count is a scan of millions of rows: done once, not twice."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_as("analyst")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/operator/sessions/")
    scans = [
        q["sql"]
        for q in queries.captured_queries
        if "charging_sessions_transaction" in q["sql"] and "COUNT(" in q["sql"]
    ]
    assert len(scans) == 1, scans
    assert response.context["page"].paginator.count == response.context["totals"].sessions == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("started_from=2025-02-30", "Enter a valid date."),
        ("started_from=2025-03-02&started_to=2025-03-01", "The end date is before the start date."),
        ("site=abc", "Select a valid choice"),
        ("status=sleeping", "Select a valid choice"),
    ],
)
def test_bad_filters_get_a_message_not_a_500(client_as, network, query, message):
    response = client_as("technician").get(f"/operator/sessions/?{query}")
    assert response.status_code == 200
    assert message in response.content.decode()


def test_the_session_page_shows_the_curve_on_separate_axes_and_the_authorisations(client_as, network):
    response = client_as("technician").get(f"/operator/sessions/{network.session.pk}/")
    html = response.content.decode()
    assert (
        "plotly" in html and f"Session {network.session.pk} on connector {network.session.connector_id}: power" in html
    )
    tokens = [event.token for event in response.context["authorizations"]]
    assert tokens == [SESSION_TOKEN]  # not another station's, not another card's
    assert "STRANGER" not in html


def test_the_meter_curve_puts_energy_and_soc_on_axes_of_their_own(network):
    figure = meter_curve(network.session)
    axes = {trace.meta["role"]: trace.yaxis or "y" for trace in figure.data}
    assert axes == {"power": "y", "energy": "y2", "soc": "y3"}
    assert figure.layout.yaxis2.title.text == "kWh" and figure.layout.yaxis3.title.text == "SoC %"
    assert tuple(figure.layout.yaxis3.range) == (0, 100)
    energy = next(trace for trace in figure.data if trace.meta["role"] == "energy")
    soc = next(trace for trace in figure.data if trace.meta["role"] == "soc")
    assert max(energy.y) == pytest.approx(20.0) and max(soc.y) == pytest.approx(60.0)


@pytest.mark.parametrize("role", MONEY)
def test_money_roles_see_the_price_breakdown_and_the_invoice(client_as, network, role):
    client = client_as(role)
    response = client.get(f"/operator/sessions/{network.session.pk}/")
    price = response.context["price"]
    assert [line.kind for line in price.lines] == ["energy", "start_fee"]
    html = response.content.decode()
    assert network.invoice.number in html
    assert f"/billing/invoices/{network.invoice.pk}/pdf/" in html
    # 1.00 start fee + 20 kWh at 0.40 = 9.00 net, 19 % tax: 10.71 gross.
    assert price.cost.price.net == 9 and price.cost.price.gross == Decimal("10.71")
    invoice_link = re.search(r'href="(/billing/operator/invoices/\?number=[^"]+)"', html).group(1)
    found = client.get(invoice_link.replace("&amp;", "&"))
    assert [invoice.pk for invoice in found.context["page"].object_list] == [network.invoice.pk]


def test_technicians_see_no_money_on_a_session(client_as, network):
    response = client_as("technician").get(f"/operator/sessions/{network.session.pk}/")
    html = response.content.decode()
    assert response.context["price"] is None
    assert 'id="session-price"' not in html and network.invoice.number not in html and "/pdf/" not in html


def test_a_session_still_charging_shows_the_cost_so_far(client_as, network):
    response = client_as("finance").get(f"/operator/sessions/{network.active_session.pk}/")
    assert response.status_code == 200
    price = response.context["price"]
    assert price.charge is None and price.invoice is None and price.cost.tariff.name == "Standard"
    assert "Not priced yet" in response.content.decode()


def test_a_session_without_readings_shows_an_empty_chart(client_as, network):
    bare = Transaction.objects.create(
        station=network.pending, connector_id=1, id_tag="X", started_at=timezone.now(), status="active"
    )
    html = client_as("analyst").get(f"/operator/sessions/{bare.pk}/").content.decode()
    assert "No data in this period." in html


def test_an_unknown_session_is_404(client_as, db):
    assert client_as("analyst").get("/operator/sessions/987654/").status_code == 404


def test_the_navigation_leads_to_the_new_pages(client_as, network):
    html = client_as("technician").get("/").content.decode()
    nav = html[html.index('<nav class="nav"') : html.index("</nav>")]
    for path in ("/operator/stations/", "/operator/sites/", "/operator/live/", "/operator/sessions/"):
        assert f'href="{path}"' in nav, path
    assert "/admin/stations/station/" not in nav and "/admin/charging_sessions/" not in nav
