"""Drivers in the browser through allauth: sign up, verify, log in and out, reset and change the password,
change the e-mail address; with clear form errors, throttled logins, CSRF and secure cookies."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.accounts.conftest import PASSWORD

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "another-long-pass-456"


def link_in(message) -> str:
    return re.search(r"https?://[^/\s]+(/\S+)", message.body).group(1)


def log_in(client, email, password=PASSWORD, **extra):
    return client.post(reverse("account_login"), {"login": email, "password": password}, **extra)


def test_sign_up_verify_by_email_and_land_logged_in(client):
    response = client.post(
        reverse("account_signup"), {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "Check your e-mail" in client.get(response["Location"]).content.decode()
    # Verification is mandatory: not logged in yet.
    assert "_auth_user_id" not in client.session
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("[Voltgrid] ")
    assert mail.outbox[0].to == ["new@example.com"]
    confirm_url = link_in(mail.outbox[0])
    page = client.get(confirm_url)
    assert "Confirm that <strong>new@example.com</strong> is your e-mail address." in page.content.decode()
    response = client.post(confirm_url, follow=True)
    assert EmailAddress.objects.get(email="new@example.com").verified
    assert response.context["user"].email == "new@example.com"
    assert "My charging" in response.content.decode()


def test_sign_up_form_errors_are_shown_next_to_the_fields(client, alice):
    response = client.post(
        reverse("account_signup"), {"email": "not-an-address", "password1": "short", "password2": "other"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid email address." in html
    assert 'class="errorlist' in html
    assert not get_user_model().objects.filter(email="not-an-address").exists()
    weak = client.post(reverse("account_signup"), {"email": "x@example.com", "password1": "123", "password2": "123"})
    assert "This password is too short." in weak.content.decode()


def test_signing_up_with_a_taken_address_reveals_nothing_and_creates_nothing(client, alice):
    response = client.post(
        reverse("account_signup"), {"email": "alice@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response["Location"] == reverse("account_email_verification_sent")
    assert get_user_model().objects.filter(email="alice@example.com").count() == 1
    # The owner of the address is told instead.
    assert mail.outbox[-1].to == ["alice@example.com"]


def test_a_bot_filling_the_honeypot_field_creates_no_account(client):
    client.post(
        reverse("account_signup"),
        {
            "email": "bot@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "website": "http://spam.example",
        },
    )
    assert not get_user_model().objects.filter(email="bot@example.com").exists()


def test_an_unverified_driver_cannot_log_in_and_gets_the_link_again(client, make_user):
    make_user("late@example.com", verified=False)
    response = log_in(client, "late@example.com")
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session
    assert mail.outbox[-1].to == ["late@example.com"]


def test_log_in_and_out(client, alice):
    response = log_in(client, "Alice@Example.com")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)
    assert "Do you want to log out?" in client.get(reverse("account_logout")).content.decode()
    client.post(reverse("account_logout"))
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_gets_a_clear_error(client, alice):
    response = log_in(client, "alice@example.com", "wrong-password")
    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_repeated_failed_logins_are_throttled_even_with_the_right_password_then(client, alice):
    for _ in range(5):
        assert "are not correct" in log_in(client, "alice@example.com", "guess").content.decode()
    response = log_in(client, "alice@example.com")
    assert "Too many failed login attempts. Try again later." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_failed_logins_from_one_address_are_throttled_across_accounts(client, make_user):
    for n in range(10):
        log_in(client, f"someone{n}@example.com", "guess")
    make_user("victim@example.com")
    response = log_in(client, "victim@example.com")
    assert "Too many failed login attempts" in response.content.decode()


def test_reset_a_forgotten_password_by_email(client, alice):
    response = client.post(reverse("account_reset_password"), {"email": "alice@example.com"})
    assert response["Location"] == reverse("account_reset_password_done")
    reset_url = link_in(mail.outbox[-1])
    form_page = client.get(reset_url, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    mismatch = client.post(set_url, {"password1": NEW_PASSWORD, "password2": "different-pass-789"})
    assert "You must type the same password each time." in mismatch.content.decode()
    response = client.post(set_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response["Location"] == reverse("account_reset_password_from_key_done")
    assert log_in(Client(), "alice@example.com", NEW_PASSWORD).status_code == 302
    # The link works once.
    assert "This link does not work" in client.get(reset_url, follow=True).content.decode()


def test_a_reset_for_an_unknown_address_looks_the_same(client, db):
    response = client.post(reverse("account_reset_password"), {"email": "ghost@example.com"})
    assert response["Location"] == reverse("account_reset_password_done")


def test_change_the_password_when_logged_in(client, alice):
    client.force_login(alice)
    wrong = client.post(
        reverse("account_change_password"),
        {
            "oldpassword": "not-it",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert "Please type your current password." in wrong.content.decode()
    response = client.post(
        reverse("account_change_password"),
        {
            "oldpassword": PASSWORD,
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert client.session["_auth_user_id"] == str(alice.pk)  # still logged in here
    assert any("password" in message.subject.lower() for message in mail.outbox)  # the driver is told


def test_changing_the_email_address_asks_for_the_password_then_verifies_the_new_one(client, alice):
    client.force_login(alice)
    page = client.get(reverse("account_email"))
    assert "Your address: <strong>alice@example.com</strong>" in page.content.decode()
    change = {"email": "alice.new@example.com", "action_add": ""}
    response = client.post(reverse("account_email"), change)
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    assert not mail.outbox
    wrong = client.post(reverse("account_reauthenticate"), {"password": "not-it"})
    assert "Incorrect password." in wrong.content.decode()
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    client.post(reverse("account_email"), change)
    assert mail.outbox[-1].to == ["alice.new@example.com"]
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"  # until the new address is confirmed
    client.post(link_in(mail.outbox[-1]))
    alice.refresh_from_db()
    assert alice.email == "alice.new@example.com"


def test_the_login_form_needs_its_csrf_token(alice):
    browser = Client(enforce_csrf_checks=True)
    assert log_in(browser, "alice@example.com").status_code == 403
    page = browser.get(reverse("account_login")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(
        reverse("account_login"), {"login": "alice@example.com", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302


def test_allauth_pages_use_the_product_layout(client, db):
    for name in ("account_login", "account_signup", "account_reset_password"):
        html = client.get(reverse(name)).content.decode()
        assert 'class="driver"' in html and "/static/css/app.css" in html
        assert 'class="card narrow"' in html


def _cookie_settings(environ: dict) -> dict:
    script = (
        "import json, django; from django.conf import settings; django.setup();"
        "print(json.dumps([settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE,"
        " settings.SESSION_COOKIE_HTTPONLY, settings.ACCOUNT_DEFAULT_HTTP_PROTOCOL]))"
    )
    keep = {k: v for k, v in os.environ.items() if k != "SECURE_COOKIES"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**keep, "DJANGO_SETTINGS_MODULE": "cms.settings", **environ},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_secure_cookies_follow_the_setting():
    assert _cookie_settings({}) == [False, False, True, "http"]
    assert _cookie_settings({"SECURE_COOKIES": "1"}) == [True, True, True, "https"]


def test_with_secure_cookies_the_session_cookie_is_marked_secure(client, alice, settings):
    settings.SESSION_COOKIE_SECURE = True
    response = log_in(client, "alice@example.com", secure=True)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] and cookie["httponly"]
