"""The small WebSocket frames of stations unmasked in Python, not by autobahn's native masker.

Every frame a station sends is masked (RFC 6455, 5.3). autobahn unmasks each with a masker of its NVX extension,
made per frame: five or six calls into C through CFFI for a frame of a few hundred bytes, and each call lets the
other threads take the interpreter lock, which the event loop then waits to get back (in a reconnect storm of
10,000 stations, 6 % of the event loop's samples). A frame of up to ``SMALL_FRAME_BYTES`` (nearly every OCPP
frame) is unmasked here as one XOR of two integers: 1.4-1.9 microseconds a frame of 50-300 bytes against 4.7-5.4
(measured alone, the masker made, asked its position and run). A larger frame keeps autobahn's masker, whose SIMD
loop is faster from about 2 KiB.

Installed (like ``daphne_walks``) only when daphne is the server; ``tests/ocpp/test_frame_masking.py``.
"""

from stations.protocol.daphne_patch import daphne_patch

SMALL_FRAME_BYTES = 1024


class IntegerMasker:
    """autobahn's masker interface (``process``, ``pointer``, ``reset``): the payload XOR the 4-byte key repeated,
    from the position reached by earlier parts of the same frame."""

    __slots__ = ("_key", "_position")

    def __init__(self, mask: bytes):
        self._key = bytes(mask)
        self._position = 0

    def pointer(self) -> int:
        return self._position

    def reset(self) -> None:
        self._position = 0

    def process(self, data: bytes) -> bytes:
        size = len(data)
        shift = self._position & 3
        key = self._key[shift:] + self._key[:shift]
        self._position += size
        stream = (key * ((size >> 2) + 1))[:size]
        return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(size, "little")


def masker_for(native_masker_factory):
    """autobahn's ``create_xor_masker(mask, length)``, with ``IntegerMasker`` for small frames."""

    def create_xor_masker(mask, length=None):
        if length is not None and length <= SMALL_FRAME_BYTES:
            return IntegerMasker(mask)
        return native_masker_factory(mask, length)

    return create_xor_masker


@daphne_patch
def install(daphne_server) -> None:
    from autobahn.websocket import protocol

    protocol.create_xor_masker = masker_for(protocol.create_xor_masker)
