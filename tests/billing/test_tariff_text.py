"""The tariff in words a 2.0.1 charger shows an accepted driver (idTokenInfo.personalMessage): every price
the tariff charges, unit prices with the decimals they have, within the 512 characters a message holds."""

from datetime import UTC, datetime, time
from decimal import Decimal

import pytest

from billing.models import DriverGroup, Tariff, TariffPeriod
from billing.session_costs import MAX_TEXT, tariff_in_words, tariff_text

pytestmark = pytest.mark.django_db

SINCE = datetime(2020, 1, 1, tzinfo=UTC)


def test_every_price_of_the_tariff_is_said():
    tariff = Tariff.objects.create(
        name="Depot",
        currency="EUR",
        tax_rate=Decimal("19.00"),
        valid_from=SINCE,
        price_per_kwh=Decimal("0.3456"),
        start_fee=Decimal("1"),
        idle_price_per_minute=Decimal("0.10"),
        idle_grace_minutes=15,
        min_price=Decimal("2.00"),
        max_price=Decimal("50.00"),
    )
    TariffPeriod.objects.create(
        tariff=tariff, name="Night", start_time=time(22), end_time=time(6), price_per_kwh=Decimal("0.25")
    )
    assert tariff_in_words(tariff) == (
        "Price: 0.3456 EUR per kWh, 1.00 EUR per session; parking after charging 0.10 EUR per minute after 15 free "
        "minutes; Night 22:00-06:00: 0.25 EUR per kWh; at least 2.00 EUR; at most 50.00 EUR (plus 19 % tax)."
    )


def test_a_free_tariff_in_a_currency_without_cents():
    tariff = Tariff.objects.create(name="Free", currency="JPY", valid_from=SINCE)
    assert tariff_in_words(tariff) == "Price: free."
    tariff.price_per_minute = Decimal("12")
    assert tariff_in_words(tariff) == "Price: 12 JPY per minute."


def test_many_periods_are_cut_to_what_a_message_holds():
    tariff = Tariff.objects.create(name="Busy", currency="EUR", valid_from=SINCE, price_per_kwh=Decimal("0.40"))
    for hour in range(24):
        TariffPeriod.objects.create(
            tariff=tariff,
            name=f"Hour {hour}",
            position=hour,
            start_time=time(hour),
            end_time=time((hour + 1) % 24),
            price_per_kwh=Decimal("0.30"),
        )
    assert len(tariff_in_words(tariff)) == MAX_TEXT


def test_the_driver_is_told_their_groups_tariff_and_others_the_public_one(make_station, driver, django_user_model):
    station = make_station("CP-1")
    Tariff.objects.create(name="Public", currency="EUR", valid_from=SINCE, price_per_kwh=Decimal("0.50"))
    fleet = DriverGroup.objects.create(name="Fleet")
    fleet.members.add(driver)
    Tariff.objects.create(
        name="Fleet", currency="EUR", valid_from=SINCE, price_per_kwh=Decimal("0.30"), driver_group=fleet
    )
    stranger = django_user_model.objects.create_user(email="someone@example.com", password="someone-pass-123")
    assert tariff_text(station=station, user=driver) == "Price: 0.30 EUR per kWh."
    assert tariff_text(station=station, user=stranger) == "Price: 0.50 EUR per kWh."
    assert tariff_text(station=station, user=None) == "Price: 0.50 EUR per kWh."
