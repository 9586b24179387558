"""Fixtures of the service-level session tests."""

import pytest

from accounts.models import IdToken
from sessions.signals import session_stopped


@pytest.fixture
def station(make_station):
    """CP-1, where the card TAG-1 is known."""
    IdToken.objects.create(token="TAG-1")
    return make_station("CP-1")


@pytest.fixture
def announced():
    """Every stop announced through ``session_stopped``: (session pk, estimated)."""
    seen = []

    def listen(sender, transaction, estimated, **_):
        seen.append((transaction.pk, estimated))

    session_stopped.connect(listen)
    yield seen
    session_stopped.disconnect(listen)
