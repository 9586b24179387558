"""Fixtures of the API tests: REST clients authenticated as an operator admin, a driver, another staff role."""

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import Role


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def admin_api(operator_admin) -> APIClient:
    return token_client(operator_admin)


@pytest.fixture
def driver_api(driver) -> APIClient:
    return token_client(driver)


@pytest.fixture
def technician_api(db, django_user_model) -> APIClient:
    user = django_user_model.objects.create_user(email="tech@example.com", password="tech-pass-123", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=Role.TECHNICIAN)[0])
    return token_client(user)
