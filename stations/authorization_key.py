"""The forms a station's Basic-auth password arrives in, so that each matches the password the operator set.

OCPP 1.6's security whitepaper configures the password as ``AuthorizationKey``: 16 to 20 bytes written as up to
40 hexadecimal digits, of which the station sends the *bytes* (not necessarily text) in its Basic auth. So the
operator may register a 1.6 station's password either as its bytes in plain text (what our rotation does: the
letters and digits of the password, sent hex-encoded) or as the 40 hex digits of a binary key. Stations in the
field also send the hex digits themselves. OCPP 2.0.1's ``BasicAuthPassword`` is plain text, sent as it is.
A password the operator sets that reads as a hex key is stored in lower case (``key_stored_form``), so the
digits compare whatever their case.
"""

import string

KEY_BYTES = range(16, 21)
HEX_DIGITS = frozenset(string.hexdigits)


def _as_hex_key(text: str) -> str | None:
    """The lower-case digits of a text that reads as a hex-encoded AuthorizationKey, else None."""
    if len(text) % 2 == 0 and len(text) // 2 in KEY_BYTES and set(text) <= HEX_DIGITS:
        return text.lower()
    return None


def key_stored_form(password: str) -> str:
    return _as_hex_key(password) or password


def password_forms(sent: bytes | str) -> list[str]:
    """What a station's Basic-auth password may match, most likely first: the text as sent, the hex digits of a
    binary key, and for a station that sends the digits, their lower case and the text they encode."""
    raw = sent.encode() if isinstance(sent, str) else sent
    forms = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        forms.append(text)
        digits = _as_hex_key(text)
        if digits is not None:
            forms.append(digits)
            try:
                forms.append(bytes.fromhex(digits).decode("utf-8"))
            except UnicodeDecodeError:
                pass
    if len(raw) in KEY_BYTES:
        forms.append(raw.hex())
    return list(dict.fromkeys(forms))
