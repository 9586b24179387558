"""Property: the tariff page's price preview is exactly the billing engine's price of the sample session.

Random tariffs (every price element, a time-of-day period or none) and random sample sessions are posted to
the tariff form as a browser posts them; the amounts the preview shows must equal ``price_session`` over
``planned_usage`` computed here from the same values, to the cent, in Decimal.
"""

import re
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.pricing import PeriodSpec, TariffSpec, planned_usage, price_session

URL = reverse("money:tariff-new") + "?fragment=1"
price = st.decimals(min_value=0, max_value=3, places=4, allow_nan=False, allow_infinity=False)
optional_price = st.one_of(st.none(), price)
clock = st.times(min_value=time(0, 0), max_value=time(23, 45)).map(lambda t: t.replace(second=0, microsecond=0))
period = st.fixed_dictionaries(
    {
        "weekdays": st.sets(st.integers(1, 7), min_size=1).map(lambda days: "".join(map(str, sorted(days)))),
        "start": clock,
        "end": clock,
        "price_per_kwh": optional_price,
        "price_per_minute": optional_price,
        "idle_price_per_minute": optional_price,
    }
)
tariff_values = st.fixed_dictionaries(
    {
        "tax_rate": st.decimals(min_value=0, max_value=30, places=2),
        "price_per_kwh": price,
        "price_per_minute": price,
        "start_fee": price,
        "idle_price_per_minute": price,
        "min_price": optional_price,
        "max_price": st.one_of(st.none(), st.decimals(min_value=3, max_value=200, places=2)),
        "min_billable_energy_wh": st.integers(0, 2000),
        "periods": st.lists(period, max_size=2),
    }
)
sample = st.fixed_dictionaries(
    {
        "energy_kwh": st.decimals(min_value=0, max_value=150, places=3),
        "minutes": st.integers(1, 24 * 60),
        "starts_at": st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31)).map(
            lambda moment: moment.replace(second=0, microsecond=0)
        ),
    }
)


def _text(value) -> str:
    return "" if value is None else str(value)


def _post_data(values: dict, session: dict) -> dict:
    data = {
        "name": "Property",
        "currency": "EUR",
        "valid_from": "2025-01-01T00:00",
        "idle_grace_minutes": "0",
        "sample-energy_kwh": str(session["energy_kwh"]),
        "sample-minutes": str(session["minutes"]),
        "sample-starts_at": session["starts_at"].strftime("%Y-%m-%dT%H:%M"),
        "periods-TOTAL_FORMS": str(len(values["periods"])),
        "periods-INITIAL_FORMS": "0",
        "periods-MIN_NUM_FORMS": "0",
        "periods-MAX_NUM_FORMS": "1000",
    }
    for name in ("tax_rate", "price_per_kwh", "price_per_minute", "start_fee", "idle_price_per_minute"):
        data[name] = str(values[name])
    data["min_price"] = _text(values["min_price"])
    data["max_price"] = _text(values["max_price"])
    data["min_billable_energy_wh"] = str(values["min_billable_energy_wh"])
    for index, spec in enumerate(values["periods"]):
        data.update(
            {
                f"periods-{index}-name": f"P{index}",
                f"periods-{index}-weekdays": spec["weekdays"],
                f"periods-{index}-start_time": spec["start"].strftime("%H:%M"),
                f"periods-{index}-end_time": spec["end"].strftime("%H:%M"),
                f"periods-{index}-price_per_kwh": _text(spec["price_per_kwh"]),
                f"periods-{index}-price_per_minute": _text(spec["price_per_minute"]),
                f"periods-{index}-idle_price_per_minute": _text(spec["idle_price_per_minute"]),
            }
        )
    return data


def _engine_price(values: dict, session: dict):
    spec = TariffSpec(
        currency="EUR",
        timezone="UTC",  # no site and no default operator: the installation's time zone
        tax_rate=values["tax_rate"],
        price_per_kwh=values["price_per_kwh"],
        price_per_minute=values["price_per_minute"],
        start_fee=values["start_fee"],
        idle_price_per_minute=values["idle_price_per_minute"],
        min_price=values["min_price"],
        max_price=values["max_price"],
        min_billable_energy_wh=values["min_billable_energy_wh"],
        periods=tuple(
            PeriodSpec(
                name=f"P{index}",
                weekdays=frozenset(int(day) for day in period["weekdays"]),
                start=period["start"],
                end=period["end"],
                price_per_kwh=period["price_per_kwh"],
                price_per_minute=period["price_per_minute"],
                idle_price_per_minute=period["idle_price_per_minute"],
            )
            for index, period in enumerate(values["periods"])
        ),
    )
    energy_wh = int((session["energy_kwh"] * 1000).to_integral_value(rounding=ROUND_HALF_UP))
    usage = planned_usage(
        starts_at=session["starts_at"].replace(tzinfo=UTC), energy_wh=energy_wh, minutes=session["minutes"]
    )
    return price_session(spec, usage)


@pytest.fixture
def finance(client, finance_user, settings):
    settings.TIME_ZONE = "UTC"
    client.force_login(finance_user)
    return client


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=tariff_values, session=sample)
def test_the_preview_equals_the_engines_price(finance, values, session):
    if (
        values["min_price"] is not None
        and values["max_price"] is not None
        and values["max_price"] < values["min_price"]
    ):
        values["max_price"] = None
    response = finance.post(URL, _post_data(values, session))
    html = response.content.decode()
    shown = re.search(r'data-net="([^"]+)" data-tax="([^"]+)" data-gross="([^"]+)"', html)
    assert shown is not None, html
    expected = _engine_price(values, session)
    assert tuple(Decimal(amount) for amount in shown.groups()) == (expected.net, expected.tax, expected.gross)
    assert expected.gross == expected.net + expected.tax


def test_the_preview_of_a_saved_tariff_is_the_price_of_a_planned_session_there(finance, make_tariff, station):
    """The same engine a driver's estimate uses (``session_price_estimate``) gives the preview's price."""
    from billing.selectors import session_price_estimate

    tariff = make_tariff(
        price_per_kwh=Decimal("0.39"), start_fee=Decimal("0.50"), valid_from=datetime(2020, 1, 1, tzinfo=UTC)
    )
    starts = datetime(2025, 6, 3, 18, 0, tzinfo=UTC) + timedelta(0)
    _, estimate = session_price_estimate(station=station, energy_wh=22_500, minutes=90, starts_at=starts)
    data = _post_data(
        {
            "tax_rate": tariff.tax_rate,
            "price_per_kwh": tariff.price_per_kwh,
            "price_per_minute": Decimal(0),
            "start_fee": tariff.start_fee,
            "idle_price_per_minute": Decimal(0),
            "min_price": None,
            "max_price": None,
            "min_billable_energy_wh": 1,
            "periods": [],
        },
        {"energy_kwh": Decimal("22.5"), "minutes": 90, "starts_at": datetime(2025, 6, 3, 20, 0)},  # 18:00 UTC in Berlin
    )
    data["site"] = str(station.site_id)
    html = finance.post(URL, data).content.decode()
    assert f'data-gross="{estimate.gross}"' in html
