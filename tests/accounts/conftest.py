"""Fixtures of the accounts tests: verified drivers, staff per role, tokens made through the services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import IdTokenEvent
from accounts.roles import Role
from accounts.services import id_token_create

PASSWORD = "a-long-driver-pass-123"


@pytest.fixture
def make_user(db, django_user_model):
    from allauth.account.models import EmailAddress

    def make(email: str, *, password: str = PASSWORD, verified: bool = True, role: Role | None = None, **fields):
        user = django_user_model.objects.create_user(email=email, password=password, **fields)
        EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
        if role is not None:
            from django.contrib.auth.models import Group

            user.groups.add(Group.objects.get(name=role.value))
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        return user

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice@example.com")


@pytest.fixture
def bob(make_user):
    return make_user("bob@example.com")


@pytest.fixture
def staff(make_user):
    """One user per staff role, by role."""
    return {role: make_user(f"{role.value}@example.com", role=role) for role in Role}


@pytest.fixture
def make_token(db):
    def make(token: str, **data):
        return id_token_create(token=token, data=data, source=IdTokenEvent.Source.COMMAND)

    return make


@pytest.fixture
def make_transaction(db):
    """A session as the sessions app records it (read only for the accounts app)."""
    from sessions.models import Transaction

    def make(station, *, id_token=None, user=None, active=False, energy_wh=12_345, connector_id=1, **fields):
        started_at = fields.pop("started_at", timezone.now() - timedelta(hours=2))
        values = {
            "station": station,
            "connector_id": connector_id,
            "id_token": id_token,
            "id_tag": id_token.token if id_token else "",
            "user": user,
            "meter_start": 1000,
            "started_at": started_at,
        }
        if active:
            values["status"] = Transaction.Status.ACTIVE
        else:
            values.update(
                status=Transaction.Status.COMPLETED,
                meter_stop=1000 + energy_wh,
                energy_wh=energy_wh,
                stopped_at=started_at + timedelta(minutes=95),
                stop_reason="Local",
            )
        return Transaction.objects.create(**values, **fields)

    return make
