"""The partner client against a real hub: ``ketenhub serve`` behind a TCP relay of our own.

``partner_hub`` is one demo hub (PostgreSQL and the SeaweedFS test server) for the package,
reached only through :class:`Relay`, a plain TCP relay whose address is the hub's issuer: to the
client it *is* the hub. Normally it passes bytes through untouched; a test can make the next
connections break (``cut_after``: close both sides after N bytes from the hub) or stall
(``stall_after``: stop passing bytes after N, as a dead mobile link does), which is how a
download is interrupted at a known point, without timing.

``client`` runs ``ketenhub-client`` as a subprocess (``python -m ketenhub_client``, the
package from this checkout's ``client/``) as a partner system: its own ``XDG_*`` directories,
a demo client's private JWK in a file of mode 600, and the hub's URL in the environment.
Its stderr joins the session's secret scan (``tests.fixtures.secrets``); its stdout may carry
v-numbers by design (``search --json``), as the hub's answers do, so it does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.databases import PostgresDatabases
from tests.fixtures.secrets import SCANNER, register_secret
from tests.fixtures.served import SecurityHub, start_hub

CLIENT_SOURCE = Path(__file__).resolve().parents[2] / "client"


class Relay:
    """A TCP relay from ``port`` to the hub (see the module docstring)."""

    def __init__(self) -> None:
        # Listening first, so the hub can be started with this address as its issuer.
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.target: tuple[str, int] = ("127.0.0.1", 0)
        self._lock = threading.Lock()
        # (mode, after bytes, connections, towards the hub?)
        self._plan: tuple[str, int, int, bool] | None = None
        self._sockets: list[socket.socket] = []
        self._closing = False
        self.stalled = threading.Event()

    def start(self, target: tuple[str, int]) -> None:
        """Relay connections to ``target`` from now on."""
        self.target = target
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_after(self, count: int, *, connections: int = 1, upstream: bool = False) -> None:
        """The next ``connections`` connections are closed after ``count`` bytes from the hub
        (or, ``upstream``, to the hub)."""
        with self._lock:
            self._plan = ("cut", count, connections, upstream)

    def stall_after(self, count: int, *, connections: int = 1, upstream: bool = False) -> None:
        """The next ``connections`` connections pass ``count`` bytes from the hub (or, with
        ``upstream``, to it), then none."""
        with self._lock:
            self.stalled.clear()
            self._plan = ("stall", count, connections, upstream)

    def clear(self) -> None:
        with self._lock:
            self._plan = None

    def close(self) -> None:
        self._closing = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                plan, upstream_plan = None, False
                if self._plan is not None:
                    mode, after, left, upstream_plan = self._plan
                    plan = (mode, after)
                    self._plan = (mode, after, left - 1, upstream_plan) if left > 1 else None
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                downstream.close()
                continue
            with self._lock:
                self._sockets += [downstream, upstream]
            up, down = (plan, None) if upstream_plan else (None, plan)
            threading.Thread(
                target=self._pump, args=(downstream, upstream, up), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, downstream, down), daemon=True
            ).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, plan: tuple[str, int] | None
    ) -> None:
        passed = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if plan is not None and passed + len(data) >= plan[1]:
                    sink.sendall(data[: plan[1] - passed])
                    if plan[0] == "stall":
                        self.stalled.set()
                        # Open and silent: what comes is swallowed until the sender gives up.
                        while source.recv(65536):
                            pass
                    break
                sink.sendall(data)
                passed += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()


@dataclass
class PartnerHub:
    """The served hub, the relay in front of it, and the demo credentials."""

    served: SecurityHub
    relay: Relay

    @property
    def url(self) -> str:
        return self.relay.url

    def client_record(self, client_id: str) -> dict[str, Any]:
        return self.served.client(client_id)


# The Ctrl-C tests send SIGINT to the client. A process inherits an ignored SIGINT, and a test
# run started in the background of a non-interactive shell (`nohup`, `cmd &`) has one, so the
# client would never see it (a CI run started so failed every Ctrl-C test). Python's own
# handler here makes the clients start with SIGINT's default, as under a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="package")
def partner_hub(
    tmp_path_factory: pytest.TempPathFactory, postgres_databases: PostgresDatabases
) -> Iterator[PartnerHub]:
    root = tmp_path_factory.mktemp("partner-hub")
    relay = Relay()
    # The hub's issuer is the relay's address: every client reaches the hub through it.
    env = {"KETENHUB_ISSUER": relay.url}
    try:
        with start_hub(root, "postgresql", postgres_databases, env=env) as served:
            relay.start((served.host, served.port))
            yield PartnerHub(served, relay)
    finally:
        relay.close()


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class PartnerClient:
    """One partner system's installation of ketenhub-client (see the module docstring)."""

    hub: PartnerHub
    client_id: str
    home: Path
    key_file: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, *, configured: bool = True) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KETENHUB_")}
        env.update(
            PYTHONPATH=str(CLIENT_SOURCE),
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / "config"),
            XDG_STATE_HOME=str(self.home / "state"),
            COLUMNS="200",
        )
        if configured:
            env.update(
                KETENHUB_CLIENT_HUB=self.hub.url,
                KETENHUB_CLIENT_ID=self.client_id,
                KETENHUB_CLIENT_KEY_FILE=str(self.key_file),
            )
        env.update(self.extra_env)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "ketenhub_client", *args]

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        configured: bool = True,
        env: Mapping[str, str] | None = None,
        timeout: float = 600,
    ) -> Result:
        completed = subprocess.run(
            self.command(*args),
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env(configured=configured), **(env or {})},
            cwd=self.home,
            timeout=timeout,
            check=False,
        )
        SCANNER.add(f"`ketenhub-client {' '.join(args)}` stderr", completed.stderr)
        return Result(completed.returncode, completed.stdout, completed.stderr)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
            cwd=self.home,
        )


def make_client(hub: PartnerHub, client_id: str, home: Path) -> PartnerClient:
    home.mkdir(parents=True, exist_ok=True)
    jwk = hub.client_record(client_id)["private_jwk"]
    register_secret(json.dumps(jwk), "private JWK")
    key_file = home / f"{client_id}.jwk"
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(jwk, handle)
    return PartnerClient(hub, client_id, home, key_file)


@pytest.fixture
def partner(partner_hub: PartnerHub, tmp_path: Path) -> PartnerClient:
    """IOM's case system, as a partner installs it."""
    return make_client(partner_hub, "demo-iom", tmp_path / "iom")


@pytest.fixture
def gemeente(partner_hub: PartnerHub, tmp_path: Path) -> PartnerClient:
    """Gemeente Amsterdam's system."""
    return make_client(partner_hub, "demo-gm0363", tmp_path / "gm0363")


def v_number_file(directory: Path, value: str = "1234567890") -> Path:
    path = directory / "v-number"
    path.write_text(value + "\n")
    return path


def pdf(path: Path, size: int) -> Path:
    """A PDF-looking file of ``size`` bytes: a header, then random bytes (not compressible)."""
    with path.open("wb") as handle:
        header = b"%PDF-1.7\n% ketenhub-client test\n"
        handle.write(header)
        left = size - len(header)
        while left > 0:
            piece = os.urandom(min(left, 4 * 1024 * 1024))
            handle.write(piece)
            left -= len(piece)
    return path


def uploaded(result: Result) -> dict[str, Any]:
    assert result.code == 0, result.stderr
    body: dict[str, Any] = result.json()
    return body


def sequence(values: Sequence[str]) -> str:
    return ",".join(values)
