"""Real TLS proxies from Debian, Caddy and nginx, in front of real ``ketenhub serve`` processes,
on loopback: the audit trail records the client's address only through a trusted proxy.

The client connects to the proxy from 127.0.0.7, a loopback address of its own, so that it is
told apart from the proxy, which reaches the hubs from 127.0.0.1. The proxy serves one port in
front of a hub that trusts 127.0.0.1 (``KETENHUB_TRUSTED_PROXIES``) and another in front of a
hub that trusts nothing; both hubs serve one SQLite database. Each request asks for a token,
which the hub records (``token.issue``) under the trace id the request carried, so each event is
found by its own. Caddy (as deploy/Caddyfile) replaces a client's ``X-Forwarded-For``; nginx
with ``$proxy_add_x_forwarded_for`` appends to it, so there the hub must walk past what the
client wrote.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import secrets
import shutil
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
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

from hub.core import db
from tests.fixtures.cli import ketenhub_env, run_ketenhub, serving
from tests.fixtures.processes import free_port, running, tcp_ready

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


def _nginx_conf(directory: Path, cert: Path, key: Path, routes: dict[int, str]) -> Path:
    """nginx as it is commonly configured in front of an application, on loopback ports."""
    servers = "".join(
        "\tserver {\n"
        f"\t\tlisten {PROXY}:{port} ssl;\n"
        f"\t\tssl_certificate {cert};\n"
        f"\t\tssl_certificate_key {key};\n"
        "\t\tlocation / {\n"
        f"\t\t\tproxy_pass http://{urlsplit(hub).netloc};\n"
        "\t\t\tproxy_set_header Host $host;\n"
        "\t\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "\t\t\tproxy_set_header X-Forwarded-Proto $scheme;\n"
        "\t\t}\n"
        "\t}\n"
        for port, hub in routes.items()
    )
    temp = directory / "nginx-temp"
    temp.mkdir()
    conf = directory / "nginx.conf"
    conf.write_text(
        "daemon off;\n"
        "worker_processes 1;\n"
        f"pid {directory / 'nginx.pid'};\n"
        "error_log stderr notice;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        "\taccess_log off;\n"
        # Workers run as nobody, who cannot write in the test's directory: keep all in memory.
        "\tproxy_max_temp_file_size 0;\n"
        + "".join(
            f"\t{kind}_temp_path {temp / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + servers
        + "}\n"
    )
    return conf


@contextmanager
def _running(
    name: str, command: list[str], env: dict[str, str], log: Path, ports: list[int]
) -> Iterator[None]:
    """Run a proxy until the block ends, once it accepts connections on every port."""
    program = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if program is None:
        pytest.fail(f"Debian's {name} is needed (apt-get install {name}; .ci/run installs it)")
    every_port = [tcp_ready(PROXY, port) for port in ports]
    with running([program, *command], env=env, log=log, ready=lambda: all(r() for r in every_port)):
        yield


@dataclass(frozen=True, slots=True)
class Hubs:
    trusting: str  # the hub that trusts 127.0.0.1 as a proxy
    trusting_nothing: str
    database: Path
    secret: str  # demo-iom's client secret


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hubs]:
    data_dir = tmp_path_factory.mktemp("hubs") / "var"
    env = ketenhub_env(data_dir, KETENHUB_ENVIRONMENT="demo")
    run_ketenhub(env, "init", "--demo")
    credentials = json.loads((data_dir / "demo-credentials.json").read_text())
    [secret] = [c["client_secret"] for c in credentials["clients"] if c["client_id"] == "demo-iom"]
    with (
        serving({**env, "KETENHUB_TRUSTED_PROXIES": f'["{PROXY}"]'}) as trusting,
        serving(env) as trusting_nothing,
    ):
        yield Hubs(trusting, trusting_nothing, data_dir / "ketenhub.db", secret)


@pytest.fixture(scope="module", params=["caddy", "nginx"])
def deployment(
    request: pytest.FixtureRequest, hubs: Hubs, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp(request.param)
    cert, key, tls = _certificate(directory)
    ports = [free_port(PROXY), free_port(PROXY)]
    routes = dict(zip(ports, [hubs.trusting, hubs.trusting_nothing], strict=True))
    log = directory / f"{request.param}.log"
    if request.param == "caddy":
        command = ["run", "--config", str(_caddyfile(directory, cert, key, routes))]
        env = {
            "HOME": str(directory),
            "XDG_DATA_HOME": str(directory / "data"),
            "XDG_CONFIG_HOME": str(directory / "config"),
        }
        running = _running("caddy", [*command, "--adapter", "caddyfile"], env, log, ports)
    else:
        conf = _nginx_conf(directory, cert, key, routes)
        running = _running(
            "nginx", ["-p", str(directory), "-c", str(conf), "-e", "stderr"], {}, log, ports
        )
    with running:
        yield Deployment(
            trusting=f"https://{PROXY}:{ports[0]}",
            trusting_nothing=f"https://{PROXY}:{ports[1]}",
            direct=hubs.trusting,
            database=hubs.database,
            secret=hubs.secret,
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
        {"X-Forwarded-For": PROXY},
        {"Forwarded": f"for={SPOOFED}"},
        {"X-Real-IP": SPOOFED},
    ],
    ids=["x-forwarded-for", "two-hops", "a-trusted-address", "forwarded", "x-real-ip"],
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
