"""Who sees which dashboard, the pages themselves, the CSV/XLSX exports and bad filter input."""

import csv
import io

import pytest
from django.urls import reverse

from accounts.roles import Role

RANGE = {"start": "2026-03-02", "end": "2026-03-03"}
STAFF_DASHBOARDS = ["usage", "utilisation", "reliability", "energy"]
ALL_DASHBOARDS = [*STAFF_DASHBOARDS, "money"]


def url(name, **kwargs):
    return reverse("analytics:dashboard", args=[name])


def test_anonymous_users_are_sent_to_log_in(client, db):
    response = client.get(url("usage"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert client.get(reverse("analytics:mine")).status_code == 302


@pytest.mark.parametrize("name", ALL_DASHBOARDS)
def test_a_driver_gets_403_on_every_operator_dashboard_and_export(client, driver, name):
    client.force_login(driver)
    assert client.get(url(name), RANGE).status_code == 403
    export = reverse("analytics:export", args=[name, "daily", "csv"])
    assert client.get(export, RANGE).status_code == 403


def test_a_driver_is_sent_from_the_analytics_index_to_their_own_page(client, driver):
    client.force_login(driver)
    response = client.get(reverse("analytics:index"))
    assert response["Location"] == reverse("analytics:mine")


@pytest.mark.parametrize("role", [Role.ANALYST, Role.OPERATOR_ADMIN])
@pytest.mark.parametrize("name", ALL_DASHBOARDS)
def test_analysts_and_operator_admins_see_every_dashboard(client, rolled_up, staff_user, role, name):
    client.force_login(staff_user(role))
    response = client.get(url(name), RANGE)
    assert response.status_code == 200
    html = response.content.decode()
    # A chart, or its empty-state message where the range has nothing to draw (no priced session here).
    assert 'class="plotly-graph-div' in html or (name == "money" and "No data in this period" in html)
    assert "Insights" in html  # the operator layout's navigation group of the dashboards


@pytest.mark.parametrize(("name", "status"), [("money", 200), ("usage", 200), ("reliability", 200)])
def test_finance_sees_every_dashboard(client, rolled_up, staff_user, name, status):
    client.force_login(staff_user(Role.FINANCE))
    assert client.get(url(name), RANGE).status_code == status


@pytest.mark.parametrize(("name", "status"), [("money", 403), ("usage", 200), ("reliability", 200)])
def test_a_technician_sees_every_dashboard_but_money(client, rolled_up, staff_user, name, status):
    client.force_login(staff_user(Role.TECHNICIAN))
    assert client.get(url(name), RANGE).status_code == status


def test_the_page_loads_plotly_from_our_static_files_and_no_cdn(client, rolled_up, staff_user):
    from django.contrib.staticfiles import finders

    client.force_login(staff_user(Role.ANALYST))
    html = client.get(url("energy"), RANGE).content.decode()
    assert '<script src="/static/analytics/vendor/plotly.min.js"' in html
    assert "cdn.plot.ly" not in html and "cdn.jsdelivr" not in html
    found = finders.find("analytics/vendor/plotly.min.js")
    assert found and open(found, encoding="utf-8").read(200).startswith("/**")


def test_the_page_shows_the_kpis_and_the_tables(client, rolled_up, staff_user):
    client.force_login(staff_user(Role.ANALYST))
    html = client.get(url("reliability"), RANGE).content.decode()
    assert "87.50" in html  # network availability
    assert "PowerMeterFailure" in html
    assert reverse("analytics:export", args=["reliability", "stations", "csv"]) + "?start=2026-03-02" in html


def test_csv_export_holds_the_table_behind_the_chart(client, rolled_up, staff_user):
    client.force_login(staff_user(Role.ANALYST))
    response = client.get(reverse("analytics:export", args=["usage", "sessions", "csv"]), RANGE)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="usage-2026-03-02-2026-03-03-sessions.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        [
            "Day",
            "Sessions",
            "Energy delivered (kWh)",
            "Average session energy (kWh)",
            "Average session duration (h)",
            "Unique drivers",
        ],
        ["2026-03-02", "3", "28.000", "10.667", "1.50", "3"],
        ["2026-03-03", "2", "9.000", "3.000", "0.50", "2"],
    ]


def test_csv_export_of_a_long_table_has_every_row(client, rolled_up, staff_user):
    client.force_login(staff_user(Role.ANALYST))
    response = client.get(reverse("analytics:export", args=["reliability", "offline", "csv"]), RANGE)
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1:] == [
        ["CP-B", "2026-03-03T20:00:00+00:00", "", "4.00"],
        ["CP-A", "2026-03-03T03:30:00+00:00", "2026-03-03T05:00:00+00:00", "1.50"],
    ]


def test_xlsx_export_is_a_workbook(client, rolled_up, staff_user):
    import zipfile

    client.force_login(staff_user(Role.ANALYST))
    response = client.get(reverse("analytics:export", args=["energy", "daily", "xlsx"]), RANGE)
    assert response.status_code == 200
    book = zipfile.ZipFile(io.BytesIO(response.content))
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    shared = book.read("xl/sharedStrings.xml").decode()
    assert "Peak 15-minute demand (kW)" in shared
    assert "<v>28</v>" in sheet and "<v>16</v>" in sheet


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-03-03", "end": "2026-03-02"},
        {"start": "2020-01-01", "end": "2026-03-02"},
        {"start": "not-a-date"},
        {"grain": "hour"},
    ],
)
def test_bad_filters_answer_400_with_the_reason(client, rolled_up, staff_user, query):
    client.force_login(staff_user(Role.ANALYST))
    response = client.get(url("usage"), query)
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert client.get(reverse("analytics:export", args=["usage", "sessions", "csv"]), query).status_code == 400


def test_a_station_outside_the_chosen_site_is_refused(client, rolled_up, staff_user):
    client.force_login(staff_user(Role.ANALYST))
    query = {**RANGE, "site": rolled_up["north"].pk, "station": rolled_up["cp_b"].pk}
    response = client.get(url("usage"), query)
    assert response.status_code == 400
    assert "is not at site North" in response.content.decode()


def test_unknown_dashboards_and_tables_are_404(client, rolled_up, staff_user):
    client.force_login(staff_user(Role.ANALYST))
    assert client.get(url("nothing")).status_code == 404
    assert client.get(reverse("analytics:export", args=["usage", "nothing", "csv"]), RANGE).status_code == 404
    assert client.get(reverse("analytics:export", args=["usage", "sessions", "pdf"]), RANGE).status_code == 404


def test_a_driver_sees_their_own_history_and_exports_only_their_rows(client, rolled_up):
    client.force_login(rolled_up["driver2"])
    response = client.get(reverse("analytics:mine"), {**RANGE, "station": rolled_up["cp_b"].pk})
    assert response.status_code == 200
    assert 'class="driver"' in response.content.decode()
    export = client.get(reverse("analytics:mine-export", args=["sessions", "csv"]), RANGE)
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    # driver2 charged once (CP-A/2 across midnight); driver1's sessions and the anonymous card's are not there.
    assert [row[2] for row in rows[1:]] == ["CP-A"]
    assert rows[1][4] == "10.000"


def test_operator_home_shows_the_kpis_and_links_to_the_dashboards(client, rolled_up, staff_user):
    client.force_login(staff_user(Role.ANALYST))
    html = client.get("/").content.decode()
    assert "Stations online" in html and "of 2" in html
    assert reverse("analytics:dashboard", args=["usage"]) in html


def test_operator_home_without_a_role_has_no_kpis(client, db, django_user_model):
    staff = django_user_model.objects.create_user(email="norole@example.com", password="x-pass-12345", is_staff=True)
    client.force_login(staff)
    assert "Stations online" not in client.get("/").content.decode()


@pytest.mark.parametrize("value", [None, "", 2, "2", "9"])
def test_the_plain_select_writes_what_djangos_select_does(value):
    import re

    from django import forms

    from analytics.filters import PlainSelect

    choices = [("", "All <stations>"), (1, 'CP-"A" & co'), (2, "CP-B")]
    attrs = {"id": "id_station"}
    djangos = forms.Select(choices=choices).render("station", value, attrs)
    assert PlainSelect(choices=choices).render("station", value, attrs) == re.sub(r">\s+<", "><", djangos)
