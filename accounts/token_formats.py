"""The number format of each kind of ID token, so that a mistyped card number gets a clear message.

RFID UIDs are hexadecimal: ISO 14443 cards have 4, 7 or 10 bytes (8, 14 or 20 digits), ISO 15693 tags 8 bytes
(16 digits); people copy them with spaces or colons, which are dropped (a MAC address keeps its own). An eMAID
(ISO 15118-2 Annex H) is a country code, a provider id and a 9-character instance, with an optional check
character and optional dashes.
"""

import re

from django.core.exceptions import ValidationError

from accounts.models import IdToken, id_token_validator, normalize_token

_HEX_SEPARATORS = re.compile(r"[\s:\-]")
FORMATS: dict[str, tuple[re.Pattern, str]] = {
    IdToken.Type.ISO14443: (
        re.compile(r"^(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$"),
        "An ISO 14443 card number is 8, 14 or 20 hexadecimal digits (0-9, A-F), e.g. 04A2B3C4.",
    ),
    IdToken.Type.ISO15693: (
        re.compile(r"^[0-9A-F]{16}$"),
        "An ISO 15693 card number is 16 hexadecimal digits (0-9, A-F), e.g. E004015012345678.",
    ),
    IdToken.Type.EMAID: (
        re.compile(r"^[A-Z]{2}-?[A-Z0-9]{3}-?[A-Z0-9]{9}(?:-?[A-Z0-9])?$"),
        "An eMAID is a country code, a 3-character provider id and a 9-character contract id, e.g. DE-8EO-CAB123456-7.",
    ),
    IdToken.Type.MAC_ADDRESS: (
        re.compile(r"^(?:[0-9A-F]{2}[:\-]?){5}[0-9A-F]{2}$"),
        "A MAC address is 6 pairs of hexadecimal digits, e.g. 00:1A:2B:3C:4D:5E.",
    ),
    IdToken.Type.KEY_CODE: (re.compile(r"^[0-9A-Z]{1,36}$"), "A key code is 1 to 36 letters and digits."),
}
_HEX_TYPES = {IdToken.Type.ISO14443, IdToken.Type.ISO15693}  # UIDs: separators are only for reading


def clean_token_number(number: str, token_type: str) -> str:
    """The stored form of ``number`` for a token of ``token_type``; ValidationError naming the expected format."""
    token = normalize_token("".join((number or "").split()))
    if token_type in _HEX_TYPES:
        token = _HEX_SEPARATORS.sub("", token)
    pattern, message = FORMATS.get(token_type, (None, ""))
    if pattern is not None and not pattern.match(token):
        raise ValidationError(message, code="format")
    id_token_validator(token)
    return token
