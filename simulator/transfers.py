"""Firmware downloads and diagnostics uploads over HTTP(S), made as a station makes them (blocking: run them in a
thread). A location the simulator cannot reach, or one in a scheme it does not speak, fails the transfer."""

import requests

FIRMWARE_EXTENSIONS = (".tar.gz", ".tgz", ".zip", ".bin", ".img", ".fw")


class TransferFailed(Exception):
    """A download or an upload that did not happen; the message says why, for the simulator's output."""


def _check_scheme(location: str) -> None:
    if not location.startswith(("http://", "https://")):
        raise TransferFailed(f"{location!r}: the simulator transfers files over HTTP(S) only")


def download(location: str, *, timeout: float = 60) -> bytes:
    """The file at ``location``: a GET answered 2xx with a body."""
    _check_scheme(location)
    try:
        response = requests.get(location, timeout=timeout)
    except requests.RequestException as error:
        raise TransferFailed(f"{location}: {error}") from error
    if not response.ok or not response.content:
        raise TransferFailed(f"{location}: HTTP {response.status_code}, {len(response.content)} bytes")
    return response.content


def upload(location: str, name: str, content: bytes, *, timeout: float = 30) -> None:
    """POST the file as multipart/form-data (field ``file``), as stations with HTTP diagnostics upload do; the
    server's upload endpoint also takes a raw PUT."""
    _check_scheme(location)
    try:
        response = requests.post(location, files={"file": (name, content, "text/plain")}, timeout=timeout)
    except requests.RequestException as error:
        raise TransferFailed(f"{location}: {error}") from error
    if not response.ok:
        raise TransferFailed(f"{location}: HTTP {response.status_code} {response.text[:200]}")


def firmware_version_from(location: str) -> str:
    """The version a firmware file brings: its name without a firmware file extension (…/fw-2.0.0.bin → fw-2.0.0)."""
    name = location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    for extension in FIRMWARE_EXTENSIONS:
        name = name.removesuffix(extension)
    return name[:50]
