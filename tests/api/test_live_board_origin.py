"""The live board socket's Origin rule: a page may open it only from the portal's own scheme, host and port.

The same rule through a real daphne server and WebSocket: tests/monitoring/test_live_board.py.
"""

import pytest

from stations.live_consumers import portal_origin_allowed


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://127.0.0.1:9999", "127.0.0.1:8000", False),  # another port of the same host
        ("https://127.0.0.1:8000", "127.0.0.1:8000", False),  # another scheme
        ("http://localhost", "localhost:80", True),  # default ports are the same origin
        ("http://evil.example.com:8000", "evil.example.com:8000", False),  # a host not in ALLOWED_HOSTS
        ("https://portal.example.com", "internal:8000", True),  # CSRF_TRUSTED_ORIGINS, behind a TLS proxy
        ("https://ops.example.org", "internal:8000", True),  # a subdomain of a trusted wildcard
        ("http://ops.example.org", "internal:8000", False),  # the wildcard's scheme is https
        ("https://portal.example.com:8443", "internal:8000", False),
        ("null", "127.0.0.1:8000", False),
        ("", "127.0.0.1:8000", False),
    ],
)
def test_the_live_board_origin_rule_compares_scheme_host_and_port(settings, origin, host, allowed):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "internal"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://portal.example.com", "https://*.example.org"]
    assert portal_origin_allowed(origin, scheme="http", host=host) is allowed
