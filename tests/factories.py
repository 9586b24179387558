"""Fixtures that create domain objects through the services, the way the product does."""

import pytest

STATION_PASSWORD = "station-secret-1"


@pytest.fixture
def make_station(db):
    from stations.services import station_create

    def make(ocpp_id="CP-1", password=STATION_PASSWORD, **fields):
        return station_create(ocpp_id=ocpp_id, password=password, **fields)

    return make


@pytest.fixture
def operator_admin(db, django_user_model):
    return django_user_model.objects.create_superuser(email="admin@example.com", password="admin-pass-123")


@pytest.fixture
def driver(db, django_user_model):
    return django_user_model.objects.create_user(email="driver@example.com", password="driver-pass-123")
