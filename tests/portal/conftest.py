"""Fixtures of the operator portal's page tests: a logged-in client per role and the small network."""

import pytest
from django.test import Client

from tests.portal.support import build_network, make_staff


@pytest.fixture
def client_as(db, django_user_model, driver):
    """A logged-in test client: ``client_as("technician")``, ``client_as("driver")``."""

    def make(role: str) -> Client:
        client = Client()
        client.force_login(driver if role == "driver" else make_staff(django_user_model, role))
        return client

    return make


@pytest.fixture
def network(make_station, driver):
    return build_network(make_station=make_station, driver=driver)
