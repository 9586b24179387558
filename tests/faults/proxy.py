"""A TCP fault proxy run inside the test process, in front of PostgreSQL or Redis.

A server child process under test is pointed at the proxy (``proxy.through(url)`` rewrites a
``DATABASE_URL`` or ``REDIS_URL``), so that a test can take "the database" or "Redis" away from that
process alone: ``cut()`` resets every live connection and refuses new ones, as a server that went away
does; ``restore()`` accepts again. The system services other tests use are never touched.

The proxy runs its own asyncio loop in a daemon thread, so it keeps forwarding while the test blocks
(a synchronous ORM call, a ``time.sleep``) and whatever loop the test itself runs.
"""

import asyncio
import contextlib
import socket
import struct
import threading
from urllib.parse import urlsplit, urlunsplit

_CHUNK = 65536


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed or stopped server's kernel answers, not a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``cut()``/``restore()`` take the target away and back."""

    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0  # chosen at start, kept across cut/restore so the child's URL stays valid
        self.accepted = 0  # connections accepted over the proxy's life, for tests that want to see traffic
        self._server: asyncio.AbstractServer | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"fault-proxy-{target_port}", daemon=True)

    # --- the test's side (any thread) ---

    def start(self) -> "FaultProxy":
        self._thread.start()
        self._run(self._listen())
        return self

    def cut(self) -> None:
        """The target goes away: live connections are reset, new connections are refused."""
        self._run(self._cut())

    def restore(self) -> None:
        """The target is back: connections are accepted (and forwarded) again."""
        self._run(self._listen())

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    @property
    def is_cut(self) -> bool:
        return self._server is None

    @property
    def live_connections(self) -> int:
        return len(self._pairs)

    def through(self, url: str) -> str:
        """``url`` (postgres://…, redis://…) with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{self.host}:{self.port}" if userinfo else f"{self.host}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # --- the proxy's loop ---

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._forward, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()  # the port stops listening: connects get ECONNREFUSED
            self._server = None
        for client, upstream in list(self._pairs):
            _reset(client)
            _reset(upstream)
        self._pairs.clear()

    async def _forward(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted just as the cut began
            _reset(client)
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(client)
            return
        self.accepted += 1
        pair = (client, upstream)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pump(client_reader, upstream), self._pump(upstream_reader, client))
        finally:
            self._pairs.discard(pair)
            client.transport.close()
            upstream.transport.close()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()  # a half-close passes through, as the peer meant it
        except (ConnectionError, OSError):
            _reset(writer)
