"""The partner story end to end, with nothing but ``pip install ./client`` on the partner's side.

A fresh virtual environment gets the client distribution alone (no extras, none of the hub's
packages: the test shows ``import hub`` fails there), and its installed ``ketenhub-client``
command is all the partners use, as separate processes against a real hub process (PostgreSQL
and SeaweedFS, demo data, webhooks polled every fraction of a second):

1. IOM and gemeente Amsterdam (GM0363) each configure a profile with their demo client's key;
2. the gemeente subscribes a webhook receiver of its own (a local HTTP server in this test,
   which accepts only what ``standardwebhooks`` verifies, with the check docs/partners.md
   gives);
3. IOM uploads a travel document (resumable, tus) and shares it with the gemeente (the demo
   policy lets the uploading organisation share its travel documents); the receiver gets
   ``share.received`` for that share and document, and the gemeente's inbox lists it;
4. the gemeente downloads it, is interrupted (SIGINT while the answer is held back by a relay
   in front of the hub, after the ``.part`` file has bytes), and the same command resumes
   with ``Range`` and ``If-Range`` to a file identical to the upload; the auditor's trail shows
   the second download as a range;
5. both receipts, the upload's (IOM) and the download's (the gemeente), pass ``ketenhub-client
   receipt verify`` against the file, which keeps each partner's last checkpoint (the witness).

Every command runs with ``--json`` and its output is parsed: what scripts rely on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import venv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.client.test_partners_doc import receiver_check
from tests.fixtures.databases import PostgresDatabases
from tests.fixtures.processes import free_port
from tests.fixtures.secrets import SCANNER, register_secret
from tests.fixtures.served import SecurityHub, start_hub

ROOT = Path(__file__).resolve().parents[2]
CLIENT_SOURCE = ROOT / "client"
DOCUMENT_SIZE = 24 * 1024 * 1024  # several 1 MiB segments and tus chunks; held back mid-way
HELD_AFTER = 2 * 1024 * 1024  # bytes of an answer the relay lets through while holding
V_NUMBER = "7310492856"
# Which of the hub's packages the client's environment can import: none, or it is not alone.
PROBE = (
    "import importlib.util, ketenhub_client\n"
    "print([m for m in ('hub', 'auth', 'audit', 'storage') if importlib.util.find_spec(m)])"
)


def partner_environment(**extra: str) -> dict[str, str]:
    """A partner's shell: no hub settings, no virtual environment of ours, no Python paths."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KETENHUB_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with ``pip install ./client`` and nothing else of ours."""
    source = tmp_path_factory.mktemp("client-source") / "client"
    shutil.copytree(
        CLIENT_SOURCE,
        source,
        ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".*cache"),
    )
    target = tmp_path_factory.mktemp("client-venv") / "env"
    venv.EnvBuilder(with_pip=True).create(target)
    python = str(target / "bin" / "python")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        env=partner_environment(),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert installed.returncode == 0, f"pip install ./client:\n{installed.stdout}{installed.stderr}"
    probe = subprocess.run(
        [python, "-c", PROBE],
        cwd=tmp_path_factory.mktemp("empty"),
        env=partner_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]", f"server packages in the client's venv: {probe.stdout}"
    assert (target / "bin" / "ketenhub-client").exists()
    return target


class HoldingRelay:
    """A TCP relay in front of the hub. While ``holding``, each connection passes at most
    ``HELD_AFTER`` bytes of the hub's answers and then waits (as a stalled network would)
    until ``release()``; a client interrupted meanwhile keeps what arrived."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.upstream_port = 0
        self.holding = False
        self._released = threading.Event()
        self._released.set()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False

    def start(self, upstream_port: int) -> None:
        """Relay what arrives to ``upstream_port`` (the hub, once it serves)."""
        self.upstream_port = upstream_port
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold(self) -> None:
        self.holding = True
        self._released.clear()

    def release(self) -> None:
        self.holding = False
        self._released.set()

    def close(self) -> None:
        self._closed = True
        self.release()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            ways = ((downstream, upstream, False), (upstream, downstream, True))
            for source, sink, answers in ways:
                threading.Thread(
                    target=self._pipe, args=(source, sink, answers), daemon=True
                ).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        passed = 0
        try:
            while chunk := source.recv(65536):
                if answers and self.holding and passed + len(chunk) > HELD_AFTER:
                    sink.sendall(chunk[: max(HELD_AFTER - passed, 0)])
                    self._released.wait()
                    chunk = chunk[max(HELD_AFTER - passed, 0) :]
                passed += len(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()


@dataclass
class Receiver:
    """The gemeente's webhook receiver: keeps what ``standardwebhooks`` verifies under the
    subscription's secret (docs/partners.md's check), answers 401 to anything else."""

    secret: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    seen_ids: set[str] = field(default_factory=set)

    def wait_for(self, predicate: Any, *, within: float = 60.0) -> dict[str, Any]:
        """The first verified event matching ``predicate``; fails after ``within`` seconds
        (a bound on waiting, not a claim about speed)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.2)
        pytest.fail(f"no such webhook within {within} s; got {self.events}, refused {self.refused}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    verified_event = receiver_check()
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                assert state.secret is not None
                event = verified_event(state.secret, body, dict(self.headers.items()))
            except Exception:  # noqa: BLE001 - anything unverified is refused
                state.refused += 1
                self.send_response(401)
                self.end_headers()
                return
            if self.headers["webhook-id"] not in state.seen_ids:  # at least once: dedupe
                state.seen_ids.add(self.headers["webhook-id"])
                state.events.append(event)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/ketenhub/webhooks"
    finally:
        server.shutdown()
        server.server_close()


def _handover(args: Sequence[str], stdout: str) -> str:
    """``webhooks add`` prints the subscription's secret by design, once, to the partner who
    stores it in its receiver (as ``ketenhub client add`` hands over a key): that one value is
    registered and taken out before the output joins the secret scan, so it is still caught
    anywhere else."""
    if tuple(args[:2]) != ("webhooks", "add"):
        return stdout
    try:
        answer = json.loads(stdout)
    except ValueError:
        return stdout
    secret = answer.get("secret") if isinstance(answer, dict) else None
    if not isinstance(secret, str):
        return stdout
    register_secret(secret, "webhook secret")
    return stdout.replace(secret, "[webhook secret handed to the receiver]")


@dataclass
class Story:
    hub: SecurityHub
    relay: HoldingRelay
    venv: Path
    home: Path

    def env(self) -> dict[str, str]:
        return partner_environment(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_STATE_HOME=str(self.home / ".local" / "state"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
        )

    def command(self, profile: str, *args: str) -> list[str]:
        return [str(self.venv / "bin" / "ketenhub-client"), "--profile", profile, "--json", *args]

    def run(self, profile: str, *args: str, status: int = 0, stdin: str | None = None) -> Any:
        """``ketenhub-client --profile P --json ARGS``: its one JSON document."""
        result = subprocess.run(
            self.command(profile, *args),
            cwd=self.home,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        SCANNER.add(f"`ketenhub-client {' '.join(args)}` stdout", _handover(args, result.stdout))
        SCANNER.add(f"`ketenhub-client {' '.join(args)}` stderr", result.stderr)
        assert result.returncode == status, (
            f"ketenhub-client {' '.join(args)}: exit {result.returncode}\n"
            f"{result.stdout}\n{result.stderr}"
        )
        return json.loads(result.stdout) if result.stdout.strip() else None


@pytest.fixture(scope="module")
def story(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
    client_venv: Path,
) -> Iterator[Story]:
    """A demo hub (PostgreSQL, SeaweedFS) whose issuer is the relay in front of it: partners
    reach it only through the relay, as through their network."""
    root = tmp_path_factory.mktemp("story")
    relay = HoldingRelay(free_port())
    settings = {
        "KETENHUB_ISSUER": relay.url,
        "KETENHUB_WEBHOOK_POLL_SECONDS": "0.2",
        "KETENHUB_AUDIT_CHECKPOINT_INTERVAL": "1",
    }
    try:
        with start_hub(root, "postgresql", postgres_databases, env=settings) as hub:
            relay.start(hub.port)
            home = root / "partner"
            home.mkdir()
            yield Story(hub, relay, client_venv, home)
    finally:
        relay.close()


def key_file(story: Story, client_id: str) -> Path:
    """The demo client's private JWK in a file only its owner may read."""
    path = story.home / f"{client_id}.jwk"
    path.write_text(json.dumps(story.hub.client(client_id)["private_jwk"]))
    path.chmod(0o600)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def wait_until(predicate: Any, *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {within} s")
        time.sleep(0.05)


def receipt_of(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The receipt in a command's JSON answer: ``{"seq", "leaf_hash", "note"}``."""
    receipt = answer["receipt"]
    assert set(receipt) >= {"seq", "leaf_hash", "note"}, receipt
    return dict(receipt)


def test_the_partner_story(story: Story, receiver: tuple[Receiver, str]) -> None:
    inbox, receiver_url = receiver
    configure_and_subscribe(story, inbox, receiver_url)
    document, document_id, upload_receipt = upload_and_share(story, inbox)
    target, download_receipt = download_interrupted_and_resumed(story, document, document_id)
    # 5. Both receipts verified against the file, each by its own party, as witnesses.
    checked = story.run("iom", "receipt", "verify", str(upload_receipt), "--file", str(document))
    assert checked["ok"] is True, checked
    checked = story.run("gm0363", "receipt", "verify", str(download_receipt), "--file", str(target))
    assert checked["ok"] is True, checked
    witnessed = list((story.home / ".local" / "state").rglob("*.json"))
    assert witnessed, "the client kept no checkpoint"


def configure_and_subscribe(story: Story, inbox: Receiver, receiver_url: str) -> None:
    # 1. Profiles for IOM (the uploader) and gemeente Amsterdam, each with its own key.
    for profile, client_id in (("iom", "demo-iom"), ("gm0363", "demo-gm0363")):
        story.run(
            profile,
            "configure",
            "--hub", story.relay.url,
            "--client-id", client_id,
            "--key-file", str(key_file(story, client_id)),
        )  # fmt: skip
    # 2. The gemeente subscribes its receiver; the secret is shown once, to it alone.
    subscription = story.run("gm0363", "webhooks", "add", receiver_url)
    register_secret(subscription["secret"], "webhook secret")
    inbox.secret = subscription["secret"]


def upload_and_share(story: Story, inbox: Receiver) -> tuple[Path, str, Path]:
    """3. IOM uploads a travel document resumably (the v-number from a file) and shares it;
    the gemeente's receiver and inbox learn of it. The file, its id and the upload's receipt."""
    home = story.home
    document = home / "laissez-passer.pdf"
    with document.open("wb") as handle:
        handle.write(b"%PDF-1.7\n")
        handle.write(os.urandom(DOCUMENT_SIZE - 9))
    (home / "v-number.txt").write_text(V_NUMBER + "\n")
    uploaded = story.run(
        "iom",
        "upload", str(document),
        "--type", "travel_document",
        "--v-number-file", str(home / "v-number.txt"),
        "--title", "Laissez-passer",
    )  # fmt: skip
    document_id = uploaded["id"]
    assert uploaded["sha256"] == sha256_of(document)
    assert uploaded["size"] == DOCUMENT_SIZE
    assert uploaded["verification"]["ok"] is True, uploaded["verification"]
    upload_receipt = home / "upload-receipt.json"
    upload_receipt.write_text(json.dumps(receipt_of(uploaded)))

    shared = story.run(
        "iom",
        "share",
        "--document", document_id,
        "--to", "GM0363",
        "--purpose", "terugkeer",
        "--days", "30",
    )  # fmt: skip
    share_id = shared["id"]
    announced = inbox.wait_for(
        lambda event: event["type"] == "share.received" and event["data"]["share_id"] == share_id
    )
    assert document_id in announced["data"]["document_ids"]
    assert V_NUMBER not in json.dumps(announced)
    assert inbox.refused == 0
    listed = story.run("gm0363", "inbox")
    assert share_id in [item["share_id"] for item in listed["items"]]
    return document, document_id, upload_receipt


def download_interrupted_and_resumed(
    story: Story, document: Path, document_id: str
) -> tuple[Path, Path]:
    """4. The gemeente downloads; the network stalls, it presses Ctrl-C, then runs the same
    command again. The file received and the download's receipt."""
    home = story.home
    target = home / "received.pdf"
    partial = home / "received.pdf.part"
    story.relay.hold()
    interrupted = subprocess.Popen(
        story.command("gm0363", "download", document_id, "-o", str(target)),
        cwd=home,
        env=story.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: partial.exists() and partial.stat().st_size > 0,
            within=120,
            what="the first bytes of the download",
        )
        interrupted.send_signal(signal.SIGINT)
        stdout, stderr = interrupted.communicate(timeout=60)
    finally:
        if interrupted.poll() is None:
            interrupted.kill()
        story.relay.release()
    SCANNER.add("`ketenhub-client download` (interrupted) stderr", stderr)
    assert interrupted.returncode == 130, f"{stdout}\n{stderr}"
    assert 0 < partial.stat().st_size < DOCUMENT_SIZE
    assert not target.exists()

    downloaded = story.run("gm0363", "download", document_id, "-o", str(target))
    assert not partial.exists()
    assert sha256_of(target) == sha256_of(document)
    assert downloaded["resumed"] is True
    assert downloaded["sha256"] == sha256_of(document)
    # The receipts of both requests that delivered a part: the interrupted one's and the range.
    assert len(downloaded["receipts"]) == 2, downloaded["receipts"]
    for receipt in downloaded["receipts"]:
        receipt_of({"receipt": receipt})
    download_receipt = home / "download-receipts.json"
    download_receipt.write_text(json.dumps(downloaded))

    # The trail: the resumed download is a range from where the first one stopped, and each
    # download's event names the whole content it was part of.
    downloads = story.hub.events(action="document.download", document_id=document_id)
    ranges = [event["leaf"].get("range") for event in downloads]
    assert any(r is not None and r.endswith(f"-{DOCUMENT_SIZE - 1}") for r in ranges), ranges
    for event in downloads:
        assert event["leaf"]["content_sha256"] == sha256_of(document)
        assert event["leaf"]["content_size"] == DOCUMENT_SIZE
    return target, download_receipt
