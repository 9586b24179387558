"""The 1.6 AuthorizationKey as the security whitepaper has it: 16 to 20 bytes configured as up to 40 hex digits,
of which the station sends the bytes in its Basic auth. A station registered with the hex key logs in with the
bytes (text or not) or with the digits in either case; one registered with a plain password, as rotation gives
it, with that password or its hex form."""

import base64
import string

import pytest
from asgiref.sync import sync_to_async
from hypothesis import given
from hypothesis import strategies as st

from stations.authorization_key import key_stored_form, password_forms
from stations.services import station_authenticate
from tests.ocpp_client import handshake_status

NOT_UTF8_KEY = bytes.fromhex("8f00ff10c3a0e2" + "41" * 13)  # 20 bytes, not text
HEX_KEY = NOT_UTF8_KEY.hex().upper()  # as an operator copies it from the station's configuration
keys = st.binary(min_size=16, max_size=20)
cases = st.sampled_from([str.lower, str.upper])
passwords = st.text(alphabet=string.ascii_letters + string.digits, min_size=16, max_size=40)


@given(key=keys, written=cases, sent_digits=cases)
def test_a_hex_key_matches_its_bytes_and_its_digits_in_any_case(key, written, sent_digits):
    stored = key_stored_form(written(key.hex()))
    assert stored in password_forms(key)
    assert stored in password_forms(sent_digits(key.hex()))


@given(password=passwords)
def test_a_plain_password_matches_itself_and_the_hex_a_station_may_send_instead(password):
    stored = key_stored_form(password)
    assert stored in password_forms(password.encode())
    if len(password) <= 20:  # what fits an AuthorizationKey
        assert stored in password_forms(password.encode().hex())


@given(key=keys, other=keys)
def test_another_key_does_not_match(key, other):
    if key != other:
        assert key_stored_form(key.hex()) not in password_forms(other)
        assert key_stored_form(key.hex()) not in password_forms(other.hex())


@pytest.mark.django_db
def test_station_registered_with_a_hex_key_authenticates_with_its_bytes_or_digits(make_station):
    station = make_station("CP-1", password=HEX_KEY)
    assert station_authenticate(ocpp_id="CP-1", password=NOT_UTF8_KEY) == station
    assert station_authenticate(ocpp_id="CP-1", password=HEX_KEY) == station
    assert station_authenticate(ocpp_id="CP-1", password=HEX_KEY.lower()) == station
    assert station_authenticate(ocpp_id="CP-1", password=NOT_UTF8_KEY[:-1] + b"\x00") is None
    assert station_authenticate(ocpp_id="CP-1", password=HEX_KEY[:-2]) is None


def raw_basic_auth(user: str, password: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(user.encode() + b":" + password).decode()}


@pytest.mark.django_db(transaction=True)
async def test_16_station_sends_its_binary_authorization_key_at_the_handshake(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1", password=HEX_KEY)
    assert await handshake_status(daphne_server, "CP-1", raw_basic_auth("CP-1", NOT_UTF8_KEY)) == 101
    assert await handshake_status(daphne_server, "CP-1", raw_basic_auth("CP-1", HEX_KEY.encode())) == 101
    assert await handshake_status(daphne_server, "CP-1", raw_basic_auth("CP-1", b"\x8f" * 20)) == 403
