"""One order across every hub process: concurrent appends form one gap-free, verifiable log.

DESIGN.md ("Audit trail", "Serialising appends"): the appends of all replicas form one ordered
log, ``seq`` 0, 1, 2 … without a gap, serialised by ``pg_advisory_xact_lock`` on PostgreSQL and
by SQLite's single writer (``BEGIN IMMEDIATE``). Two tests show it on both databases:

* two real ``ketenhub serve`` processes against one database, hammered by concurrent partner
  systems asking for tokens (some with a wrong secret, so denials are recorded too) while both
  sign checkpoints every second; afterwards ``ketenhub audit verify`` and the table itself must
  agree that every request left exactly one event, in one unbroken sequence;
* in process, two independently built service sets (two engines, two logs: what two replicas
  are) appending from many threads, some transactions rolled back after their append, with
  checkpoints signed in between; the seq each caller was handed must be the one that stands.

The events' ``time`` values are not compared: each process reads its own clock, so time order
across processes is not part of the guarantee, only ``seq`` order is.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from sqlalchemy import Engine, func, select

from audit.events import Action, Event, Outcome
from audit.models import AuditCheckpoint, AuditEvent
from audit.verify import verify_log
from hub.core import db
from hub.runtime import Services, build_services
from hub.trail.checkpoint_export import export_name
from storage.keys import LocalKeyRing
from tests.fixtures.cli import ketenhub_env, run_ketenhub
from tests.fixtures.oauth import hub_settings

AUDIT_ORIGIN: Final = "ketenhub.test/audit"
CLIENT_THREADS: Final = 16
REQUESTS_PER_THREAD: Final = 25
WRONG_SECRET_EVERY: Final = 5  # one request in five: 20% refusals
START_TIMEOUT: Final = 30.0
CHECKPOINT_TIMEOUT: Final = 20.0

_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
_CHECKPOINTS = AuditCheckpoint.__table__  # type: ignore[attr-defined]


# -- helpers ------------------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    """Ports nobody listens on; the sockets are held together so the ports differ."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def _seqs(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(select(_EVENTS.c.seq).order_by(_EVENTS.c.seq)).scalars())


def _event_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(_EVENTS)).scalar_one())


def _newest_checkpoint_size(engine: Engine) -> int:
    with engine.connect() as connection:
        size = connection.execute(select(func.max(_CHECKPOINTS.c.tree_size))).scalar()
        return 0 if size is None else int(size)


@dataclass
class HubProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")


@contextlib.contextmanager
def running_hubs(env: dict[str, str], log_dir: Path, count: int) -> Iterator[list[HubProcess]]:
    """``count`` ``ketenhub serve`` processes sharing ``env``'s database, data dir and key file.

    Each answers at its own port, with an issuer that matches how clients call it. They are
    always terminated; their output goes to files (a pipe nobody reads would stall a busy
    server) and is printed on the way out, so pytest shows it when the test fails.
    """
    hubs: list[HubProcess] = []
    try:
        for number, port in enumerate(_free_ports(count)):
            url = f"http://127.0.0.1:{port}"
            log = log_dir / f"hub-{number}.log"
            with log.open("wb") as sink:
                command = ["serve", "--host", "127.0.0.1", "--port", str(port)]
                process = subprocess.Popen(
                    [sys.executable, "-m", "hub.cli", *command],
                    env={**env, "KETENHUB_ISSUER": url},
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            hubs.append(HubProcess(url, process, log))
        for hub in hubs:
            _wait_ready(hub)
        yield hubs
    finally:
        for hub in hubs:
            hub.process.terminate()
        for hub in hubs:
            try:
                hub.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                hub.process.kill()
                hub.process.wait(timeout=5)
            print(f"--- {hub.url} (exit {hub.process.returncode}) ---\n{hub.output()}")


def _wait_ready(hub: HubProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(f"{hub.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if hub.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the hub at {hub.url} did not become ready:\n{hub.output()}")
        time.sleep(0.1)


@dataclass(frozen=True)
class Answer:
    hub: str
    wrong_secret: bool
    status: int
    error: str | None


def _client_load(
    worker: int, urls: list[str], clients: list[dict[str, Any]], start: threading.Barrier
) -> list[Answer]:
    """One partner system: token requests to the hubs in turn, every fifth with a bad secret."""
    client = clients[worker % len(clients)]
    answers = []
    with httpx.Client(timeout=60) as http:
        start.wait()
        for request in range(REQUESTS_PER_THREAD):
            url = urls[(worker + request) % len(urls)]
            wrong = (worker * REQUESTS_PER_THREAD + request) % WRONG_SECRET_EVERY == 0
            secret = "not-the-secret" if wrong else client["client_secret"]
            response = http.post(
                f"{url}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client["client_id"], secret),
            )
            json_answer = response.headers.get("content-type", "").startswith("application/json")
            body = response.json() if json_answer else {"error": response.text[:200]}
            if response.status_code == 200:
                assert body["access_token"]
            answers.append(Answer(url, wrong, response.status_code, body.get("error")))
    return answers


# -- two hub processes, many clients ---------------------------------------------------------


def test_two_hub_processes_under_concurrent_load_keep_one_gap_free_log(
    tmp_path: Path, fresh_database_url: str
) -> None:
    data_dir = tmp_path / "var"
    env = ketenhub_env(
        data_dir,
        KETENHUB_ENVIRONMENT="demo",
        KETENHUB_DATABASE_URL=fresh_database_url,
        KETENHUB_AUDIT_CHECKPOINT_INTERVAL="1",
        KETENHUB_AUDIT_ORIGIN=AUDIT_ORIGIN,
        # Errors and tracebacks only: the access log of hundreds of requests hides them.
        KETENHUB_LOG_LEVEL="WARNING",
    )
    run_ketenhub(env, "init", "--demo")
    clients = json.loads((data_dir / "demo-credentials.json").read_text("utf-8"))["clients"]
    engine = db.make_engine(fresh_database_url)
    try:
        with running_hubs(env, tmp_path, count=2) as hubs:
            urls = [hub.url for hub in hubs]
            start = threading.Barrier(CLIENT_THREADS)
            with ThreadPoolExecutor(CLIENT_THREADS) as pool:
                futures = [
                    pool.submit(_client_load, worker, urls, clients, start)
                    for worker in range(CLIENT_THREADS)
                ]
                answers = [answer for future in futures for answer in future.result()]
            # Both hubs sign every second: wait for the checkpoint of the whole log, exported
            # to the write-once directory the way a witness would keep it.
            logged = _event_count(engine)
            exported = data_dir / "audit-checkpoints" / export_name(logged)
            deadline = time.monotonic() + CHECKPOINT_TIMEOUT
            while not exported.exists():
                assert time.monotonic() < deadline, "no checkpoint of the whole log was exported"
                time.sleep(0.2)

        total = CLIENT_THREADS * REQUESTS_PER_THREAD
        refused = [a for a in answers if a.wrong_secret]
        issued = [a for a in answers if not a.wrong_secret]
        assert len(answers) == total
        assert len(refused) == total // WRONG_SECRET_EVERY
        assert {(a.status, a.error) for a in refused} == {(401, "invalid_client")}
        assert {(a.status, a.error) for a in issued} == {(200, None)}
        assert {a.hub for a in issued} == set(urls)  # both processes really served

        verified = run_ketenhub(env, "audit", "verify", "--checkpoint", str(exported), check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "audit trail intact" in verified.stdout
        assert f"your checkpoint of size {logged} checked" in verified.stdout

        seqs = _seqs(engine)
        assert seqs == list(range(len(seqs)))
        with engine.connect() as connection:
            outcomes = Counter(
                connection.execute(
                    select(_EVENTS.c.outcome).where(_EVENTS.c.action == Action.TOKEN_ISSUE)
                ).scalars()
            )
            summaries = list(
                connection.execute(
                    select(_EVENTS.c.seq, _EVENTS.c.detail).where(
                        _EVENTS.c.action == Action.HTTP_REFUSE_SUMMARY
                    )
                )
            )
        # The wrong secrets come from one address that never authenticated: each process
        # records its first and counts the rest into a summary (decision 0020), written when
        # it stops, after the checkpoint; `audit verify` then records itself.
        late = [seq for seq, _ in summaries if seq >= logged]
        assert len(seqs) == logged + len(late) + 1
        counted = sum(int(detail.split(" ", 1)[0]) for _, detail in summaries)
        assert _newest_checkpoint_size(engine) == logged
        assert outcomes[Outcome.SUCCESS] == len(issued)
        assert outcomes[Outcome.DENIED] + counted == len(refused)
        assert outcomes[Outcome.DENIED] <= 2 * len(urls)  # one per process and interval
    finally:
        engine.dispose()


# -- in process: two logs on one database, rollbacks after appending ------------------------

APPEND_THREADS: Final = 8
APPENDS_PER_THREAD: Final = 40
ROLL_BACK_EVERY: Final = 5


class Abandoned(Exception):
    """Raised inside a transaction after its append, so that the append is rolled back."""


@pytest.fixture
def replicas(tmp_path: Path, fresh_database_url: str) -> Iterator[list[Services]]:
    """Two service sets on one database, each with its own engine and log: two replicas."""
    settings = hub_settings(tmp_path, fresh_database_url, audit_origin=AUDIT_ORIGIN)
    LocalKeyRing.create(settings.resolved_key_file)
    built = [build_services(settings, create_database=True)]
    try:
        db.migrate(built[0].engine)
        with db.transaction(built[0].engine) as session:
            built[0].audit.keys.ensure(session)
        built.append(build_services(settings))  # the second replica finds the database set up
        yield built
    finally:
        for services in built:
            services.close()


def _append_load(worker: int, replicas: list[Services], start: threading.Barrier) -> dict[str, int]:
    """Append through the replicas in turn; returns the seq handed out for each commit."""
    committed: dict[str, int] = {}
    start.wait()
    for number in range(APPENDS_PER_THREAD):
        services = replicas[(worker + number) % len(replicas)]
        name = f"{worker}-{number}"
        abandon = number % ROLL_BACK_EVERY == 0
        event = Event(
            action=Action.DOCUMENT_READ,
            outcome=Outcome.SUCCESS,
            resource_type="document",
            resource_id=name if not abandon else f"abandoned-{name}",
        )
        with contextlib.suppress(Abandoned), db.transaction(services.engine) as session:
            recorded = services.audit.record(session, event)
            if abandon:
                raise Abandoned
            committed[name] = recorded.seq
    return committed


def test_concurrent_appends_from_two_logs_with_rollbacks_stay_gap_free(
    replicas: list[Services],
) -> None:
    engine = replicas[0].engine
    start = threading.Barrier(APPEND_THREADS + 1)
    done = threading.Event()

    def checkpoint_while_appending() -> int:
        start.wait()
        signed = 0
        for tick in itertools.count():
            if done.is_set():
                break
            if replicas[tick % len(replicas)].audit.checkpoint_now() is not None:
                signed += 1
            time.sleep(0.01)
        return signed

    with ThreadPoolExecutor(APPEND_THREADS + 1) as pool:
        signer = pool.submit(checkpoint_while_appending)
        futures = [
            pool.submit(_append_load, worker, replicas, start) for worker in range(APPEND_THREADS)
        ]
        try:
            committed = {name: seq for f in futures for name, seq in f.result().items()}
        finally:
            done.set()
        signer.result()
    replicas[1].audit.checkpoint_now()  # the log as it ends is signed too

    expected = APPEND_THREADS * (APPENDS_PER_THREAD - APPENDS_PER_THREAD // ROLL_BACK_EVERY)
    assert len(committed) == expected
    assert _seqs(engine) == list(range(expected))
    with engine.connect() as connection:
        rows = connection.execute(select(_EVENTS.c.resource_id, _EVENTS.c.seq))
        stored = {row.resource_id: row.seq for row in rows}
    # Every caller's receipt names the seq its event really has; no rolled-back event remains.
    assert stored == committed

    with db.transaction(db.read_only(engine)) as session:
        verifiers = replicas[0].audit.keys.load(session).verifiers
    with db.snapshot(engine) as connection:
        report = verify_log(connection, verifiers)
    assert report.problems == []
    assert report.intact
    assert report.events == expected
    assert report.checkpoints >= 1
    assert _newest_checkpoint_size(engine) == expected
