"""HAProxy in front of a test's daphne nodes, run from the repository's own deploy/haproxy.cfg: only the
address it listens on and its ``server`` lines are the test's; timeouts, retries, balancing and health
checks are the shipped ones."""

import contextlib
import csv
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import ROOT, _free_port
from tests.waiting import until_sync

CONFIG = ROOT / "deploy" / "haproxy.cfg"


def haproxy_config(shipped: str, *, port: int, nodes: list[int]) -> str:
    """``shipped`` listening on 127.0.0.1:``port`` and balancing over the daphne nodes on ``nodes`` (ports)."""
    config, binds = re.subn(r"(?m)^(\s*)bind \S+$", rf"\1bind 127.0.0.1:{port}", shipped)
    config, servers = re.subn(r"(?m)^\s*server \S+ \S+\n", "", config)
    assert binds == 1 and servers, "deploy/haproxy.cfg no longer has one bind line and its server lines"
    ours = "".join(f"    server node{n} 127.0.0.1:{node_port}\n" for n, node_port in enumerate(nodes, 1))
    return config.rstrip("\n") + "\n" + ours


class Balancer:
    """``with Balancer([port, ...]) as balancer``: HAProxy started, listening; stopped at the end."""

    def __init__(self, nodes: list[int]):
        self.port = _free_port()
        self.http_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self._nodes = nodes
        self._process = None
        self._directory = None

    def __enter__(self) -> "Balancer":
        binary = shutil.which("haproxy")
        if binary is None:
            raise RuntimeError("haproxy is not installed (scripts/test-faults installs it with apt-get as root)")
        self._directory = tempfile.TemporaryDirectory(prefix="voltgrid-haproxy-")
        config = Path(self._directory.name) / "haproxy.cfg"
        self._stats = Path(self._directory.name) / "stats.sock"
        shipped = haproxy_config(CONFIG.read_text(), port=self.port, nodes=self._nodes)
        # The test's own addition: a stats socket, to see which nodes the health checks let through.
        config.write_text(shipped.replace("global\n", f"global\n    stats socket {self._stats} mode 600\n", 1))
        (ROOT / "var").mkdir(exist_ok=True)
        self.log_path = ROOT / "var" / f"test-haproxy-{self.port}.log"
        with open(self.log_path, "w") as log:
            self._process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
        until_sync(self._listening, within=10, what=f"haproxy listening (see {self.log_path})", every=0.05)
        return self

    def _listening(self) -> bool:
        if self._process.poll() is not None:
            raise RuntimeError(f"haproxy did not start: {self.log_path.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
            return True
        return False

    def servers_up(self) -> set[str]:
        """The names of the servers up whose last health check passed (a server starts up, unchecked)."""
        with socket.socket(socket.AF_UNIX) as stats:
            stats.connect(str(self._stats))
            stats.sendall(b"show stat\n")
            answer = b""
            while chunk := stats.recv(65536):
                answer += chunk
        rows = list(csv.reader(answer.decode().lstrip("# ").splitlines()))
        header = rows[0]
        column = {name: index for index, name in enumerate(header)}
        return {
            row[column["svname"]]
            for row in rows[1:]
            if len(row) == len(header) and row[column["status"]] == "UP" and row[column["check_status"]] == "L7OK"
        }

    def wait_until_all_up(self, within: float = 30.0) -> None:
        count = len(self._nodes)
        until_sync(lambda: len(self.servers_up()) == count, within=within, what="every node up in HAProxy", every=0.2)

    def __exit__(self, *exc) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._directory.cleanup()
