"""The operator admin printed by the first start, and a superuser made with createsuperuser, log in through
allauth at once: someone holding the server made them, so their address counts as verified."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from cms.management.commands.runcms import Command as RunCms

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-admin-pass-42"


def log_in(client, email, password=PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def assert_logged_in_at_once(client, email):
    response = log_in(client, email)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session["_auth_user_id"] == str(get_user_model().objects.get(email=email).pk)
    assert mail.outbox == []  # no confirmation link sent
    address = EmailAddress.objects.get(email=email)
    assert (address.verified, address.primary) == (True, True)


def test_the_first_admin_printed_at_first_start_logs_in_at_once(client, monkeypatch):
    monkeypatch.setenv("CMS_ADMIN_EMAIL", "ops@example.com")
    monkeypatch.setenv("CMS_ADMIN_PASSWORD", PASSWORD)
    RunCms()._ensure_admin()
    assert_logged_in_at_once(client, "ops@example.com")


def test_a_superuser_made_with_createsuperuser_logs_in_at_once(client, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", interactive=False, email="root@example.com", verbosity=0)
    assert_logged_in_at_once(client, "root@example.com")


def test_anyone_else_still_confirms_the_address_first(client, django_user_model):
    django_user_model.objects.create_user(email="driver@example.com", password=PASSWORD)
    response = log_in(client, "driver@example.com")
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session
