"""A real Caddy (Debian's) terminating TLS in front of real ``ketenhub serve`` processes, on
loopback: the audit trail records the client's address only through a trusted proxy.

The client connects to Caddy from 127.0.0.7, a loopback address of its own, so that it is told
apart from Caddy, which reaches the hubs from 127.0.0.1. Caddy proxies one port to a hub that
trusts 127.0.0.1 (``KETENHUB_TRUSTED_PROXIES``) and another to a hub that trusts nothing; both
serve one SQLite database. Each request asks for a token, which the hub records
(``token.issue``) under the trace id the request carried, so each event is found by its own.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text

from hub import db
from tests.fixtures.cli import free_port, ketenhub_env, run_ketenhub, serving

CLIENT = "127.0.0.7"
PROXY = "127.0.0.1"
SPOOFED = "6.6.6.6"


@dataclass(frozen=True, slots=True)
class Deployment:
    trusting: str  # the proxy's URL in front of the hub that trusts it
    trusting_nothing: str  # the proxy's URL in front of the hub that trusts no proxy
    direct: str  # the trusting hub itself, without the proxy
    database: Path
    secret: str  # demo-iom's client secret
    tls: ssl.SSLContext


def _certificate(directory: Path) -> tuple[Path, Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1, and a client context that trusts only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ketenhub test proxy")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(PROXY))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, ssl.create_default_context(cafile=cert_file)


def _caddyfile(directory: Path, cert: Path, key: Path, routes: dict[int, str]) -> Path:
    """A Caddyfile like deploy/Caddyfile, on loopback ports with the test's certificate."""
    sites = "".join(
        f"https://{PROXY}:{port} {{\n"
        f"\tbind {PROXY}\n"
        f"\ttls {cert} {key}\n"
        f"\treverse_proxy {urlsplit(hub).netloc}\n"
        "}\n"
        for port, hub in routes.items()
    )
    caddyfile = directory / "Caddyfile"
    caddyfile.write_text(
        "{\n"
        "\tadmin off\n"  # no admin endpoint on a port another test run may hold
        "\tauto_https disable_redirects\n"
        "\tskip_install_trust\n"
        f"\tstorage file_system {directory / 'data'}\n"
        "\tservers {\n\t\tprotocols h1 h2\n\t}\n"
        "}\n" + sites
    )
    return caddyfile


@contextmanager
def _run_caddy(directory: Path, caddyfile: Path, ports: list[int]) -> Iterator[None]:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.fail("Debian's caddy is needed (apt-get install caddy; .ci/run installs it)")
    log = directory / "caddy.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [caddy, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(directory),
                "XDG_DATA_HOME": str(directory / "data"),
                "XDG_CONFIG_HOME": str(directory / "config"),
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        for port in ports:
            while True:
                try:
                    socket.create_connection((PROXY, port), timeout=1).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"caddy did not start:\n{log.read_text()}")
                    time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("tls-proxy")
    data_dir = directory / "var"
    env = ketenhub_env(data_dir, KETENHUB_ENVIRONMENT="demo")
    run_ketenhub(env, "init", "--demo")
    credentials = json.loads((data_dir / "demo-credentials.json").read_text())
    secret = next(
        c["client_secret"] for c in credentials["clients"] if c["client_id"] == "demo-iom"
    )
    cert, key, tls = _certificate(directory)
    with ExitStack() as stack:
        trusting = stack.enter_context(serving({**env, "KETENHUB_TRUSTED_PROXIES": f'["{PROXY}"]'}))
        trusting_nothing = stack.enter_context(serving(env))
        ports = [free_port(PROXY), free_port(PROXY)]
        caddyfile = _caddyfile(
            directory, cert, key, dict(zip(ports, [trusting, trusting_nothing], strict=True))
        )
        stack.enter_context(_run_caddy(directory, caddyfile, ports))
        yield Deployment(
            trusting=f"https://{PROXY}:{ports[0]}",
            trusting_nothing=f"https://{PROXY}:{ports[1]}",
            direct=trusting,
            database=data_dir / "ketenhub.db",
            secret=secret,
            tls=tls,
        )


def _recorded_address(deployment: Deployment, base: str, **headers: str) -> str | None:
    """Ask ``base`` for a token from 127.0.0.7; the source address the trail recorded for it."""
    trace_id = secrets.token_hex(16)
    transport = httpx.HTTPTransport(local_address=CLIENT, verify=deployment.tls)
    with httpx.Client(transport=transport, timeout=30) as client:
        response = client.post(
            f"{base}/oauth/token",
            auth=("demo-iom", deployment.secret),
            data={"grant_type": "client_credentials", "scope": "documents:read"},
            headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01", **headers},
        )
    assert response.status_code == 200, response.text
    engine = db.make_engine(f"sqlite:///{deployment.database}", create=False)
    try:
        with engine.connect() as connection:
            recorded: str | None = connection.execute(
                text(
                    "SELECT source_address FROM audit_event"
                    " WHERE trace_id = :trace AND action = 'token.issue'"
                ),
                {"trace": trace_id},
            ).scalar_one()
    finally:
        engine.dispose()
    return recorded


def test_through_a_trusted_proxy_the_client_is_recorded(deployment: Deployment) -> None:
    assert _recorded_address(deployment, deployment.trusting) == CLIENT


@pytest.mark.parametrize(
    "spoof",
    [
        {"X-Forwarded-For": SPOOFED},
        {"X-Forwarded-For": f"{SPOOFED}, {SPOOFED}"},
        {"Forwarded": f"for={SPOOFED}"},
        {"X-Real-IP": SPOOFED},
    ],
    ids=["x-forwarded-for", "two-hops", "forwarded", "x-real-ip"],
)
def test_a_client_cannot_choose_its_recorded_address(
    deployment: Deployment, spoof: dict[str, str]
) -> None:
    assert _recorded_address(deployment, deployment.trusting, **spoof) == CLIENT


def test_without_trusted_proxies_the_proxy_is_recorded(deployment: Deployment) -> None:
    assert _recorded_address(deployment, deployment.trusting_nothing) == PROXY
    assert (
        _recorded_address(deployment, deployment.trusting_nothing, **{"X-Forwarded-For": SPOOFED})
        == PROXY
    )


def test_a_client_that_bypasses_the_proxy_is_not_believed(deployment: Deployment) -> None:
    # Straight to the hub that trusts 127.0.0.1: from 127.0.0.7 its header counts for nothing.
    recorded = _recorded_address(deployment, deployment.direct, **{"X-Forwarded-For": SPOOFED})
    assert recorded == CLIENT
