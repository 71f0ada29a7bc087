"""Benchmark of the audit trail: append cost, ``audit verify`` over a large log, and proofs.

A benchmark, not a test: it prints figures and asserts nothing about time. It stops with an
error only when something is wrong: a verify report that is not intact, or a proof that does
not verify.

Everything runs on PostgreSQL, in a scratch database of its own that it creates through
``--postgres ADMIN_URL`` and drops at the end (also after a failure), migrated with the hub's
Alembic migrations. In order:

1. **Fill.** ``--events`` (1,000,000) realistic events: clients of the chain's organisations
   issuing tokens and reading, listing, searching, downloading, uploading and sharing documents,
   with W3C trace and span ids, a partner's span for some, the purpose's URI, the pseudonym of
   the person concerned for most document events (the same few tens of thousands of people
   recur), policy rules, and denials and misses with their detail. They are *not* appended one
   by one: each leaf is computed exactly as the log computes it (:meth:`audit.events.Event.leaf`
   and :func:`audit.events.leaf_hash_of`), every completed subtree of level 1 and up comes from
   :class:`audit.merkle.MerkleAccumulator` (level 0 is ``audit_event.leaf_hash``), and both are
   loaded with PostgreSQL ``COPY``. After every ``--checkpoint-every`` (100,000) events a
   checkpoint is signed with :func:`audit.checkpoints.sign_latest`, which also checks, from the
   stored nodes, that the log extends the previous checkpoint. The audit keys are set up as
   ``ketenhub init`` does (a :class:`storage.keys.LocalKeyRing` in a temporary directory, then
   :meth:`hub.trail.keys.AuditKeys.ensure`). The fill ends with ``VACUUM ANALYZE``, as
   autovacuum would do after such a load; otherwise it would start in the middle of a timing.
   The fill's time is printed; it has no target.
2. **verify.** :func:`audit.verify.verify_log` on one connection: every leaf rebuilt from its
   columns and rehashed, the tree rebuilt, every stored node compared, every checkpoint's
   signature, root and consistency with the previous one checked. The report must be intact.
   It runs ``--verify-runs`` (2) times; the best run is held against the target, at most 15 s
   for 1,000,000 events (scaled linearly for another ``--events``). Each run also shows the
   CPU time this process spent and how busy the machine's CPUs were, so a run slowed down by
   another tenant can be told from a slow verifier. Then the real command, ``ketenhub audit
   verify``, runs once, end to end in a subprocess (interpreter start, imports, unsealing the
   audit keys, the verification, and the event the command records about itself afterwards);
   ``--skip-cli`` leaves it out.
3. **Inclusion proofs.** ``--proofs`` (2,000) calls of :func:`audit.log.inclusion_proof` at the
   full tree size, for random ``seq``, timed one by one; each proof is then checked with
   :func:`audit.merkle.verify_inclusion` against :func:`audit.log.root_at`, which must also
   equal the newest checkpoint's root. Target: p50 at most 5 ms.
4. **Appends.** ``--appends`` (2,000) events per writer count in ``--writers`` (1, 8, 32): that
   many threads, each with its own session, each append one transaction, ``with
   db.transaction(engine) as s: log.append(s, event)``, and one :class:`audit.log.AuditLog`
   shared by all, as in the hub. They run on top of the filled log, so the tables and indexes
   have the size they would have in service. Figures: latency of each append from the start of
   its transaction to the end of its commit (p50, p99), throughput (events/s), and amortised
   cost (wall time / events). Target: p50 at most 2 ms. Each writer first appends two events
   untimed, to open its connection. The same then runs on SQLite, in a file in a temporary
   directory as the embedded hub uses it, on an empty log (``--skip-sqlite`` leaves it out).

   **Queueing.** Appends are serialised by one global lock (``pg_advisory_xact_lock`` on
   PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) that is held until the commit, including its
   fsync. With N writers an append waits for up to N - 1 others, so at 8 and 32 writers the p50
   is mostly time spent in the queue, and the target can only be judged at 1 writer. What
   concurrency buys is throughput, bounded by 1 / the time the lock is held. The table
   therefore also shows, per append, the time spent waiting for the lock and the time it was
   held (from acquiring it to the end of the commit): on PostgreSQL as the log reports it to its
   observer (:class:`audit.log.AppendTiming`, the grant read from the server's clock, as the
   lock and the write go in one round trip), on SQLite around ``BEGIN IMMEDIATE``. The log's
   count of appends that had to re-read the head under the lock goes to stderr.
   Two more queues lie outside the lock: the hub's engine pools at most 40 connections
   (:func:`hub.core.db.make_engine`, 10 + 30 overflow; the "conns" column shows the most in
   use at once); and the client's threads share the GIL and,
   with PostgreSQL, the machine's cores. SQLite's busy handler is no queue either: a writer
   that finds the lock taken sleeps (1 ms, growing to 100 ms) and retries while others get in
   first, so its p50 can stay low while its p99 shows the writers that kept losing.
   **The floor of one sequencer.** Beside the appends, at the same writer counts and taking
   turns with them (``--rounds``, 4: a shared machine's load changes by the second), runs the
   *bare loop*: per transaction ``pg_advisory_xact_lock``, one INSERT of a 400-byte row into a
   table with only a primary key, and COMMIT, through psycopg with a connection per writer
   (:func:`sequencer_prototype.bare_loop`). Its *held rate* (1000 / the mean ms the lock is held,
   from acquiring it to the commit's return) is as fast as any log can go whose every append
   holds one global lock to its commit. The table prints the hub's held rate beside it and the
   ratio. Targets at 32 writers: the ratio at least 0.7, and the append's p50 at most 40 ms.
   The hub's "held" ends when the DBAPI commit returns (the session's ``after_commit``), as the
   bare loop's does; closing the session and checking the connection in come after the lock.

   **The next design.** Then the prototype of a queue with a batch integrator
   (:mod:`sequencer_prototype`, decision 0038) runs at the most writers: its accepted rate,
   its integration rate while accepting and on a backlog, and the delay from promise to
   inclusion, beside the bare loop's held rate (``--skip-prototype`` leaves it out).

5. **Re-verify.** :func:`audit.verify.verify_log` once more over the log with the appended
   events, so the concurrent appends are shown to have left a log that verifies. Timed, without
   a target.

Run from the project root, with PostgreSQL running::

    .venv/bin/python benchmarks/audit.py [--quick] [--events 1000000] [--appends 2000]
        [--writers 1,8,32] [--rounds 4] [--proofs 2000] [--checkpoint-every 100000]
        [--verify-runs 2] [--postgres postgresql://postgres@127.0.0.1:5432/test]
        [--skip-sqlite] [--skip-cli] [--skip-prototype]

``--quick`` is a smoke run of under a minute with the same phases on smaller counts (10,000
events, 256 appends per writer count in 2 rounds, 200 proofs, one verify run); any option
given explicitly still wins.

``ADMIN_URL`` must name a role that may create databases; the benchmark never writes to the
database it names. Progress goes to stderr; the report to stdout. With the defaults a run takes
about five minutes on two cores and needs about 1 GiB in PostgreSQL while it runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

# Run as a script, this file's directory comes first on sys.path, where this very file would
# shadow the ``audit`` package; the project root must come before it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session as OrmSession

from audit import checkpoints, log, merkle
from audit.events import LEAF_FIELDS, Action, ActorType, Event, Outcome, leaf_hash_of
from audit.log import AuditLog
from audit.notes import NoteSigner, NoteVerifier
from audit.pseudonyms import SUBJECT_TYPE, Pseudonymiser
from audit.verify import Report, verify_log
from hub.core import db
from hub.core.purposes import PROCESSING_ACTIVITIES
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN
from hub.trail.keys import AuditKeys
from storage.keys import LocalKeyRing

sys.path.insert(1, str(Path(__file__).resolve().parent))
import sequencer_prototype as proto

DEFAULT_ADMIN_URL: Final = "postgresql://postgres@127.0.0.1:5432/test"
ORIGIN: Final = "bench.ketenhub.example/audit"
PURPOSE_BASE: Final = "urn:ketenhub:verwerkingsactiviteit:"
TARGET_APPEND_P50_MS: Final = 2.0
TARGET_HELD_RATIO: Final = 0.7
"""At 32 writers: the hub's held rate (1 / mean time the lock is held per event) at least this
share of the bare lock-insert-commit loop's, measured at the same writer count in the run."""
TARGET_CONTENDED_P50_MS: Final = 40.0
"""At 32 writers: the append's p50, queueing included."""
CONTENDED_WRITERS: Final = 32
TARGET_VERIFY_S_PER_MILLION: Final = 15.0
TARGET_PROOF_P50_MS: Final = 5.0
WARMUP_APPENDS: Final = 2
EPOCH: Final = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
EVENT_SPACING_US: Final = 2_500_000
"""Events are spread 2.5 s apart (1,000,000 cover about a month), with jitter inside a slot."""

_EVENT_COLUMNS: Final = (*LEAF_FIELDS, "leaf_hash")


def log_progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# -- realistic events --------------------------------------------------------------------------

_DOCUMENT_ACTIONS: Final = (
    (Action.DOCUMENT_READ, 30),
    (Action.DOCUMENT_DOWNLOAD, 20),
    (Action.DOCUMENT_LIST, 15),
    (Action.DOCUMENT_SEARCH, 10),
    (Action.DOCUMENT_UPLOAD, 15),
    (Action.SHARE_CREATE, 7),
    (Action.SHARE_REVOKE, 3),
)
_SYSTEMS: Final = ("zaaksysteem", "dossierkoppeling", "batch")


class EventFactory:
    """Events as the hub writes them, from a seeded generator (the same run, the same log)."""

    def __init__(self, seed: int, *, people: int = 50_000) -> None:
        self._rng = random.Random(seed)
        pseudonymiser = Pseudonymiser(self._rng.randbytes(32))
        # The same people come back: a subject report finds all their events by pseudonym.
        self._subjects = [
            pseudonymiser.pseudonym(f"{self._rng.randrange(10**10):010d}") for _ in range(people)
        ]
        organisations = [seed.code for seed in (*CHAIN, *DEMO_GEMEENTEN)]
        purposes = list(PROCESSING_ACTIVITIES)
        self._clients = [
            (code, f"{code.lower()}-{system}", PURPOSE_BASE + self._rng.choice(purposes))
            for code in organisations
            for system in _SYSTEMS
        ]
        self._actions = [action for action, _ in _DOCUMENT_ACTIONS]
        self._weights = [weight for _, weight in _DOCUMENT_ACTIONS]
        self._operators = ("beheerder.jansen", "beheerder.el-amrani")

    def make(self) -> Event:
        rng = self._rng
        organisation, client_id, purpose = rng.choice(self._clients)
        host = rng.getrandbits(24)
        trace: dict[str, Any] = {
            "trace_id": f"{rng.getrandbits(128):032x}",
            "span_id": f"{rng.getrandbits(64):016x}",
            "foreign_span_id": f"{rng.getrandbits(64):016x}" if rng.random() < 0.4 else None,
            "source_address": f"10.{host >> 16}.{host >> 8 & 255}.{host & 255}",
        }
        roll = rng.random()
        if roll < 0.01:
            return Event(
                action=Action.AUDIT_QUERY,
                outcome=Outcome.SUCCESS,
                actor_type=ActorType.OPERATOR,
                actor_id=rng.choice(self._operators),
                resource_type="audit_log",
                detail="subject report",
                **trace,
            )
        actor: dict[str, Any] = {
            "actor_type": ActorType.CLIENT,
            "actor_id": client_id,
            "organisation": organisation,
            "processing_activity_id": purpose,
        }
        if roll < 0.13:
            return Event(
                action=Action.TOKEN_ISSUE,
                outcome=Outcome.SUCCESS if roll > 0.015 else Outcome.DENIED,
                resource_type="client",
                resource_id=client_id,
                detail=None if roll > 0.015 else "invalid_client",
                **actor,
                **trace,
            )
        action = rng.choices(self._actions, self._weights)[0]
        verb = action.split(".", 1)[1]
        subject: dict[str, Any] = {}
        if action not in (Action.DOCUMENT_LIST, Action.DOCUMENT_SEARCH) or rng.random() < 0.5:
            subject = {
                "data_subject_id": rng.choice(self._subjects),
                "data_subject_id_type": SUBJECT_TYPE,
            }
        outcome = Outcome.SUCCESS
        rule: str | None = f"{organisation.lower()}-may-{verb}"
        detail: str | None = None
        if roll > 0.97:
            outcome, rule, detail = Outcome.DENIED, "default-deny", "not shared with you"
        elif roll > 0.95:
            outcome, rule, detail, subject = Outcome.NOT_FOUND, None, "no such document", {}
        return Event(
            action=action,
            outcome=outcome,
            resource_type="document",
            resource_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            policy_rule=rule,
            detail=detail,
            **actor,
            **subject,
            **trace,
        )


# -- scratch database and keys ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scratch:
    url: str
    """SQLAlchemy URL, for :func:`hub.core.db.make_engine` and the command line."""
    conninfo: str
    """libpq URL, for the raw ``COPY`` connection."""


@contextmanager
def scratch_database(admin_url: str) -> Iterator[Scratch]:
    """A PostgreSQL database of the benchmark's own, dropped afterwards."""
    name = f"ketenhub_bench_audit_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(admin_url).set(database=name)
        yield Scratch(
            url=url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False),
            conninfo=url.set(drivername="postgresql").render_as_string(hide_password=False),
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass(frozen=True, slots=True)
class Keys:
    signer: NoteSigner
    verifiers: tuple[NoteVerifier, ...]


def create_keys(engine: Engine, data_dir: Path) -> Keys:
    """The audit keys as ``ketenhub init`` creates them, sealed under a fresh local key ring
    at the path the command line's settings will look for it."""
    ring = LocalKeyRing.create(data_dir / "keys" / "keyring.json")
    keys = AuditKeys(keys=ring, origin=ORIGIN)
    with db.transaction(engine) as session:
        keys.ensure(session)
    with db.transaction(engine) as session:
        snapshot = keys.load(session)
    return Keys(snapshot.signer, snapshot.verifiers)


def _clock_at(size: int) -> Callable[[], datetime]:
    """The signing time of a checkpoint of ``size``: just after its newest event."""
    moment = EPOCH + timedelta(microseconds=size * EVENT_SPACING_US)
    return lambda: moment


# -- 1. fill -----------------------------------------------------------------------------------


@dataclass(slots=True)
class FillResult:
    events: int = 0
    nodes: int = 0
    checkpoints: int = 0
    compute_s: float = 0.0
    copy_s: float = 0.0
    sign_s: float = 0.0
    vacuum_s: float = 0.0


def fill(
    scratch: Scratch,
    engine: Engine,
    signer: NoteSigner,
    *,
    events: int,
    every: int,
    factory: EventFactory,
) -> FillResult:
    """Load ``events`` events and their tree nodes with COPY, signing a checkpoint per chunk."""
    result = FillResult()
    accumulator = merkle.MerkleAccumulator()
    jitter = random.Random(7)
    copy_events = sql.SQL("COPY audit_event ({}) FROM STDIN").format(
        sql.SQL(", ").join(map(sql.Identifier, _EVENT_COLUMNS))
    )
    copy_nodes = sql.SQL("COPY audit_node (level, idx, hash) FROM STDIN")
    with psycopg.connect(scratch.conninfo) as conn:
        start = 0
        while start < events:
            end = min(events, start + every)
            t0 = time.perf_counter()
            event_rows: list[tuple[Any, ...]] = []
            node_rows: list[tuple[int, int, bytes]] = []
            for seq in range(start, end):
                moment = EPOCH + timedelta(
                    microseconds=seq * EVENT_SPACING_US + jitter.randrange(EVENT_SPACING_US)
                )
                leaf = factory.make().leaf(seq=seq, time=moment)
                digest = leaf_hash_of(leaf)
                event_rows.append((*(leaf.get(name) for name in LEAF_FIELDS), digest))
                completed = accumulator.append(digest)[1:]  # level 0 is the event's leaf_hash
                node_rows.extend((n.level, n.index, n.digest) for n in completed)
            t1 = time.perf_counter()
            with conn.cursor() as cursor:
                with cursor.copy(copy_events) as copy:
                    for row in event_rows:
                        copy.write_row(row)
                with cursor.copy(copy_nodes) as copy:
                    for node_row in node_rows:
                        copy.write_row(node_row)
            conn.commit()
            t2 = time.perf_counter()
            with db.transaction(engine) as session:
                _, created = checkpoints.sign_latest(session, signer, now=_clock_at(end))
            t3 = time.perf_counter()
            result.compute_s += t1 - t0
            result.copy_s += t2 - t1
            result.sign_s += t3 - t2
            result.events = end
            result.nodes += len(node_rows)
            result.checkpoints += int(created)
            log_progress(f"filled {end:,}/{events:,} events, checkpoint signed: {created}")
            start = end
    t0 = time.perf_counter()
    with psycopg.connect(scratch.conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_event")
        conn.execute("VACUUM ANALYZE audit_node")
    result.vacuum_s = time.perf_counter() - t0
    return result


# -- 2. verify ---------------------------------------------------------------------------------


def _machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over all of the machine's CPUs since boot, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle and iowait
    return sum(values) - idle, sum(values)


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True, slots=True)
class Timing:
    """Wall time, the CPU time of this process (all its threads) and of the children it waited
    for, and how busy the whole machine's CPUs were meanwhile (0 to 1; the database server and
    any other tenant included)."""

    wall_s: float
    own_cpu_s: float
    machine_busy: float

    def describe(self) -> str:
        return (
            f"{self.wall_s:.2f} s wall, {self.own_cpu_s:.2f} s CPU in the benchmark, "
            f"machine CPUs {self.machine_busy:.0%} busy"
        )


@contextmanager
def stopwatch() -> Iterator[list[Timing]]:
    """Times the block; the :class:`Timing` is in the yielded list once the block ends."""
    out: list[Timing] = []
    busy0, total0 = _machine_cpu()
    cpu0, t0 = _own_cpu(), time.perf_counter()
    yield out
    wall, cpu = time.perf_counter() - t0, _own_cpu() - cpu0
    busy1, total1 = _machine_cpu()
    out.append(Timing(wall, cpu, (busy1 - busy0) / max(1, total1 - total0)))


def timed_verify(engine: Engine, verifiers: tuple[NoteVerifier, ...]) -> tuple[Report, Timing]:
    """One :func:`audit.verify.verify_log` over the whole log; refuses a report not intact."""
    with db.snapshot(engine) as connection, stopwatch() as timing:
        report = verify_log(connection, verifiers)
    if not report.intact:
        shown = "; ".join(f"seq {p.seq}: {p.message}" for p in report.problems[:5])
        raise SystemExit(f"verify_log reports a broken log: {shown}")
    return report, timing[0]


def cli_verify(scratch: Scratch, data_dir: Path) -> tuple[Timing, str]:
    """``ketenhub audit verify`` in a subprocess, with settings pointing at the scratch hub."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("KETENHUB_")}
    env |= {
        "KETENHUB_ENVIRONMENT": "development",
        "KETENHUB_DATA_DIR": str(data_dir),
        "KETENHUB_DATABASE_URL": scratch.url,
        "KETENHUB_AUDIT_ORIGIN": ORIGIN,
    }
    script = Path(sys.executable).with_name("ketenhub")
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "import sys; from hub.cli import main; sys.exit(main())"]
    )
    with stopwatch() as timing:
        done = subprocess.run(  # noqa: PLW1510 - the status is checked just below
            [*command, "audit", "verify"], env=env, capture_output=True, text=True
        )
    if done.returncode != 0:
        raise SystemExit(
            f"ketenhub audit verify exited {done.returncode}: {done.stderr.strip()[-2000:]}"
        )
    return timing[0], done.stdout


# -- 3. inclusion proofs -----------------------------------------------------------------------


def time_inclusion_proofs(engine: Engine, *, size: int, count: int, seed: int) -> list[float]:
    """Milliseconds per :func:`audit.log.inclusion_proof`, each proof verified afterwards."""
    rng = random.Random(seed)
    seqs = [rng.randrange(size) for _ in range(count)]
    samples: list[float] = []
    with engine.connect() as connection:
        root = log.root_at(connection, size)
        newest = checkpoints.latest(connection)
        if newest is not None and newest.tree_size == size and newest.root_hash != root:
            raise SystemExit("root_at disagrees with the newest checkpoint of the same size")
        leaves = log.read_nodes(connection, [(0, seq) for seq in seqs])
        for seq in seqs[:20]:  # warm-up: plans cached, pages in shared buffers as in service
            log.inclusion_proof(connection, seq, size)
        for seq in seqs:
            t0 = time.perf_counter()
            proof = log.inclusion_proof(connection, seq, size)
            samples.append((time.perf_counter() - t0) * 1000)
            merkle.verify_inclusion(
                leaf_index=seq, tree_size=size, leaf_hash=leaves[0, seq], proof=proof, root=root
            )
    return samples


# -- 4. appends --------------------------------------------------------------------------------


def _is_lock(statement: str) -> bool:
    return statement.startswith("BEGIN IMMEDIATE")


class LockProbe:
    """Per thread: how long the append waited for the log's lock, and when it held it; also
    counts connections in use. On PostgreSQL the log says so itself (it is the log's
    :class:`audit.log.AppendObserver`: the lock is taken on the driver's connection, which no
    engine event sees); on SQLite the lock is the transaction's ``BEGIN IMMEDIATE``, timed
    from the engine's cursor events."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._guard = threading.Lock()
        self._in_use = 0
        self.peak_connections = 0
        self._listeners: list[tuple[Any, str, Callable[..., None]]] = [
            (engine, "before_cursor_execute", self._before),
            (engine, "after_cursor_execute", self._after),
            (engine, "checkout", self._checkout),
            (engine, "checkin", self._checkin),
            (OrmSession, "after_commit", self._committed),
        ]
        for target, name, listener in self._listeners:
            event.listen(target, name, listener)

    def close(self) -> None:
        for target, name, listener in self._listeners:
            event.remove(target, name, listener)

    def appended(self, _session: Any, _recorded: Any, timing: log.AppendTiming) -> None:
        if self._engine.dialect.name == "postgresql":
            self._local.wait, self._local.acquired = timing.waited, timing.locked_at

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if _is_lock(statement):
            self._local.asked = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if _is_lock(statement):
            self._local.acquired = time.perf_counter()
            self._local.wait = self._local.acquired - self._local.asked

    def _committed(self, _session: Any) -> None:
        # The DBAPI commit has returned, so the server has released the lock; what the
        # session and the pool do next (close, reset, check in) happens without it.
        self._local.committed = time.perf_counter()

    def _checkout(self, *_args: Any) -> None:
        with self._guard:
            self._in_use += 1
            self.peak_connections = max(self.peak_connections, self._in_use)

    def _checkin(self, *_args: Any) -> None:
        with self._guard:
            self._in_use -= 1

    def last(self) -> tuple[float, float, float]:
        """(seconds waited for the lock, perf_counter when it was acquired, and when the
        commit returned) in this thread."""
        return self._local.wait, self._local.acquired, self._local.committed


@dataclass(frozen=True, slots=True)
class AppendResult:
    backend: str
    writers: int
    events: int
    latency_ms: list[float]
    wait_ms: list[float]
    held_ms: list[float]
    wall_s: float
    peak_connections: int

    @property
    def p50(self) -> float:
        return statistics.median(self.latency_ms)

    @property
    def held_rate(self) -> float:
        """Events per second the log's lock allows: 1 / the mean time it is held."""
        return 1000 / statistics.fmean(self.held_ms)


def run_appends(
    engine: Engine, *, backend: str, writers: int, total: int, factory: EventFactory
) -> AppendResult:
    """``total`` appends shared over ``writers`` threads, one transaction each."""
    probe = LockProbe(engine)
    audit_log = AuditLog(observer=probe)
    per_writer = max(1, total // writers)
    work = [[factory.make() for _ in range(WARMUP_APPENDS + per_writer)] for _ in range(writers)]
    latency: list[float] = []
    wait: list[float] = []
    held: list[float] = []
    failures: list[BaseException] = []
    start = threading.Barrier(writers + 1)

    def append(item: Event) -> None:
        with db.transaction(engine) as session:
            audit_log.append(session, item)

    def writer(events: list[Event]) -> None:
        try:
            for item in events[:WARMUP_APPENDS]:
                append(item)
        except BaseException as exc:
            failures.append(exc)
            start.abort()
            raise
        start.wait()
        try:
            for item in events[WARMUP_APPENDS:]:
                t0 = time.perf_counter()
                append(item)
                t1 = time.perf_counter()
                waited, acquired, committed = probe.last()
                # list.append is atomic under the GIL; the three lists stay aligned per append.
                latency.append((t1 - t0) * 1000)
                wait.append(waited * 1000)
                held.append((committed - acquired) * 1000)
        except BaseException as exc:
            failures.append(exc)
            raise

    threads = [threading.Thread(target=writer, args=(events,)) for events in work]
    for thread in threads:
        thread.start()
    with suppress(threading.BrokenBarrierError):  # a writer failed; reported below
        start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    probe.close()
    # How many appends found the head not where the process predicted it and read it under the
    # lock (absent from logs that do not count them).
    log_progress(f"{backend}, {writers} writers: head re-read {getattr(audit_log, 'rereads', '?')}")
    if failures:
        raise SystemExit(f"{backend} appends with {writers} writers failed: {failures[0]!r}")
    return AppendResult(
        backend, writers, len(latency), latency, wait, held, wall, probe.peak_connections
    )


def append_suite(
    engine: Engine, *, backend: str, writer_counts: list[int], total: int, seed: int
) -> list[AppendResult]:
    results = []
    for writers in writer_counts:
        log_progress(f"{backend}: {total:,} appends with {writers} writers")
        factory = EventFactory(seed + writers, people=1_000)
        results.append(
            run_appends(engine, backend=backend, writers=writers, total=total, factory=factory)
        )
    return results


@dataclass(frozen=True, slots=True)
class Contended:
    """The PostgreSQL appends, each writer count run right after the bare loop at that count,
    and the prototype of the next design."""

    hub: list[AppendResult]
    bare: list[proto.LoopResult]
    prototype: proto.PrototypeResult | None


PROTOTYPE_SCHEMA: Final = "sequencer_prototype"


def postgres_appends(
    engine: Engine,
    scratch: Scratch,
    *,
    writer_counts: list[int],
    total: int,
    seed: int,
    rounds: int,
    prototype: bool,
) -> Contended:
    """Per writer count the bare loop and the hub's append, taking turns ``rounds`` times
    with a share of ``total`` each (a shared machine's load changes by the second, and
    both sides should see the same); then the prototype at the most writers. The bare loop and
    the prototype use tables in a schema of their own."""
    proto.create_tables(scratch.conninfo, PROTOTYPE_SCHEMA)
    hub: list[AppendResult] = []
    bare: list[proto.LoopResult] = []
    share = max(1, total // rounds)
    for writers in writer_counts:
        bare_parts: list[proto.LoopResult] = []
        hub_parts: list[AppendResult] = []
        for round_ in range(1, rounds + 1):
            log_progress(f"round {round_}/{rounds}: bare loop, {share:,} transactions")
            bare_parts.append(
                proto.bare_loop(scratch.conninfo, PROTOTYPE_SCHEMA, writers=writers, total=share)
            )
            hub_parts += append_suite(
                engine,
                backend="PostgreSQL",
                writer_counts=[writers],
                total=share,
                seed=seed + round_,
            )
        bare.append(
            proto.LoopResult(
                writers,
                [x for part in bare_parts for x in part.latency_ms],
                [x for part in bare_parts for x in part.wait_ms],
                [x for part in bare_parts for x in part.held_ms],
                sum(part.wall_s for part in bare_parts),
            )
        )
        hub.append(
            AppendResult(
                "PostgreSQL",
                writers,
                sum(part.events for part in hub_parts),
                [x for part in hub_parts for x in part.latency_ms],
                [x for part in hub_parts for x in part.wait_ms],
                [x for part in hub_parts for x in part.held_ms],
                sum(part.wall_s for part in hub_parts),
                max(part.peak_connections for part in hub_parts),
            )
        )
    result = None
    if prototype:
        writers = max(writer_counts)
        log_progress(f"prototype: accept and integrate {total:,} events, {writers} writers")
        result = proto.prototype(
            scratch.conninfo, PROTOTYPE_SCHEMA, writers=writers, total=total, batch=500
        )
    proto.drop_schema(scratch.conninfo, PROTOTYPE_SCHEMA)
    return Contended(hub, bare, result)


def print_contended(contended: Contended) -> None:
    print()
    print("The same appends beside the floor of one sequencer, the bare loop (per transaction:")
    print("pg_advisory_xact_lock, one 400-byte INSERT, COMMIT; psycopg, a connection per writer),")
    print("taking turns at each writer count. held: ms from holding the lock to the end")
    print("of the commit; held rate: events/s the lock allows, 1000 / mean held.")
    print(f"{proto.LOOP_HEADER}{'hub/bare held rate':>20}{'hub/bare events/s':>19}")
    for hub, bare in zip(contended.hub, contended.bare, strict=True):
        print(proto.describe_loop("bare loop", bare))
        print(
            proto.describe_loop(
                "hub append",
                proto.LoopResult(hub.writers, hub.latency_ms, hub.wait_ms, hub.held_ms, hub.wall_s),
            )
            + f"{hub.held_rate / bare.held_rate:>20.2f}"
            + f"{hub.events / hub.wall_s / bare.throughput:>19.2f}"
        )
    if contended.prototype is not None:
        print()
        print("The next design's prototype (queue in the request's transaction, signed promise,")
        print("one integrator in batches; benchmarks/sequencer_prototype.py), same run:")
        for line in proto.describe_prototype(contended.prototype):
            print(line)
        bare = next(b for b in contended.bare if b.writers == contended.prototype.writers)
        print(
            f"    accepted / bare loop's held rate at {bare.writers} writers: "
            f"{contended.prototype.accepted_rate / bare.held_rate:.2f}; backlog integration / "
            f"it: {contended.prototype.drain_rate / bare.held_rate:.1f}"
        )


def contended_rows(contended: Contended) -> list[TargetRow]:
    rows: list[TargetRow] = []
    for hub, bare in zip(contended.hub, contended.bare, strict=True):
        if hub.writers != CONTENDED_WRITERS:
            continue
        rows.append(
            (
                f"held rate hub / bare loop, {hub.writers} writers",
                hub.held_rate / bare.held_rate,
                TARGET_HELD_RATIO,
                "",
                f"{hub.held_rate:,.0f} / {bare.held_rate:,.0f} events/s",
                True,
            )
        )
        rows.append(
            (
                f"append p50, PostgreSQL, {hub.writers} writers",
                hub.p50,
                TARGET_CONTENDED_P50_MS,
                "ms",
                "queueing included",
                False,
            )
        )
    return rows


def sqlite_appends(*, writer_counts: list[int], total: int, seed: int) -> list[AppendResult]:
    with tempfile.TemporaryDirectory(prefix="ketenhub-bench-audit-") as tmp:
        engine = db.make_engine(f"sqlite:///{Path(tmp) / 'ketenhub.db'}")
        try:
            db.migrate(engine)
            return append_suite(
                engine, backend="SQLite", writer_counts=writer_counts, total=total, seed=seed
            )
        finally:
            engine.dispose()


# -- report ------------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    return [
        f"cores: {len(os.sched_getaffinity(0))} usable (os.cpu_count {os.cpu_count()}), CPU {cpu}",
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}",
    ]


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def server_version(scratch: Scratch) -> str:
    with psycopg.connect(scratch.conninfo) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        settings = conn.execute(
            "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings "
            "WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_sync_method')"
        ).fetchone()
    return f"PostgreSQL {row[0] if row else '?'} ({settings[0] if settings else '?'})"


def met(value: float, target: float, *, at_least: bool = False) -> str:
    return "met" if (value >= target if at_least else value <= target) else "NOT met"


def print_appends(results: list[AppendResult]) -> None:
    print()
    print("Appends: latency from transaction start to commit; one global lock, so at >1 writer")
    print("latency includes waiting in line (lock wait); throughput is bounded by 1 / lock held.")
    print(
        f"{'backend':<11}{'writers':>8}{'events':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'wait p50':>10}{'held p50':>10}{'events/s':>10}{'ms/event':>10}{'conns':>7}"
        f"  target p50 <= {TARGET_APPEND_P50_MS:g} ms"
    )
    for r in results:
        note = "" if r.writers == 1 else " (queueing)"
        print(
            f"{r.backend:<11}{r.writers:>8}{r.events:>8}{r.p50:>9.2f}"
            f"{_percentile(r.latency_ms, 0.99):>9.2f}{statistics.median(r.wait_ms):>10.2f}"
            f"{statistics.median(r.held_ms):>10.2f}{r.events / r.wall_s:>10.0f}"
            f"{r.wall_s * 1000 / r.events:>10.3f}{r.peak_connections:>7}"
            f"  {met(r.p50, TARGET_APPEND_P50_MS)}{note}"
        )


# -- main --------------------------------------------------------------------------------------

TargetRow = tuple[str, float, float, str, str, bool]
"""Name, measured, target, unit, a note, and whether the target is a least value."""


def verify_phase(
    args: argparse.Namespace, scratch: Scratch, engine: Engine, keys: Keys, data_dir: Path
) -> list[TargetRow]:
    """Phase 2: ``verify_log`` ``--verify-runs`` times, then the command line once."""
    target = TARGET_VERIFY_S_PER_MILLION * args.events / 1_000_000
    print()
    runs: list[Timing] = []
    for run in range(1, args.verify_runs + 1):
        log_progress(f"verify_log, run {run}")
        report, timing = timed_verify(engine, keys.verifiers)
        runs.append(timing)
        print(
            f"verify_log run {run}: {report.events:,} events, {report.nodes:,} nodes, "
            f"{report.checkpoints} checkpoints: intact; {timing.describe()}; "
            f"{report.events / timing.wall_s:,.0f} events/s"
        )
    best = min(timing.wall_s for timing in runs)
    rows = [
        (f"verify_log, {args.events:,} events", best, target, "s", f"best of {len(runs)}", False)
    ]
    if not args.skip_cli:
        log_progress("ketenhub audit verify")
        timing, output = cli_verify(scratch, data_dir)
        print(f"ketenhub audit verify, end to end (subprocess): {timing.describe()}; it printed:")
        for line in output.splitlines():
            print(f"    {line}")
        rows.append(("ketenhub audit verify, end to end", timing.wall_s, target, "s", "", False))
    return rows


def proof_phase(args: argparse.Namespace, engine: Engine) -> list[TargetRow]:
    """Phase 3: inclusion proofs at the full size."""
    log_progress(f"{args.proofs:,} inclusion proofs")
    with stopwatch() as timing:
        proofs = time_inclusion_proofs(engine, size=args.events, count=args.proofs, seed=args.seed)
    p50 = statistics.median(proofs)
    print()
    print(
        f"Inclusion proofs at size {args.events:,}: {len(proofs)} proofs, all verified; "
        f"p50 {p50:.2f} ms, p99 {_percentile(proofs, 0.99):.2f} ms, max {max(proofs):.2f} ms "
        f"(machine CPUs {timing[0].machine_busy:.0%} busy)"
    )
    return [(f"inclusion proof p50 at {args.events:,}", p50, TARGET_PROOF_P50_MS, "ms", "", False)]


def append_rows(results: list[AppendResult]) -> list[TargetRow]:
    return [
        (
            f"append p50, {r.backend}, {r.writers} writer{'s' if r.writers > 1 else ''}",
            r.p50,
            TARGET_APPEND_P50_MS,
            "ms",
            "queueing included" if r.writers > 1 else "",
            False,
        )
        for r in results
        if r.writers == 1
    ]


def run_postgres(
    args: argparse.Namespace, writer_counts: list[int], *, data_dir: Path
) -> list[TargetRow]:
    """Phases 1 to 5 on PostgreSQL; prints their sections, returns the target rows."""
    with scratch_database(args.postgres) as scratch:
        print(f"database: {server_version(scratch)}; a scratch database, dropped afterwards")
        engine = db.make_engine(scratch.url)
        try:
            db.migrate(engine)
            keys = create_keys(engine, data_dir)
            log_progress(f"filling {args.events:,} events")
            with stopwatch() as timing:
                filled = fill(
                    scratch,
                    engine,
                    keys.signer,
                    events=args.events,
                    every=args.checkpoint_every,
                    factory=EventFactory(args.seed),
                )
            print()
            print(
                f"Fill: {filled.events:,} events, {filled.nodes:,} nodes, {filled.checkpoints} "
                f"checkpoints in {timing[0].wall_s:.1f} s: events and nodes computed "
                f"{filled.compute_s:.1f} s, COPY {filled.copy_s:.1f} s, checkpoints signed "
                f"{filled.sign_s:.2f} s, VACUUM ANALYZE {filled.vacuum_s:.1f} s"
            )
            print(f"on disk, with indexes: {table_sizes(scratch)}")
            rows = verify_phase(args, scratch, engine, keys, data_dir)
            rows += proof_phase(args, engine)
            contended = postgres_appends(
                engine,
                scratch,
                writer_counts=writer_counts,
                total=args.appends,
                seed=args.seed,
                rounds=args.rounds,
                prototype=not args.skip_prototype,
            )
            print_appends(contended.hub)
            print_contended(contended)
            rows += append_rows(contended.hub) + contended_rows(contended)
            log_progress("verify_log after the appends")
            report, again = timed_verify(engine, keys.verifiers)
            print(f"verify_log after the appends: {report.events:,} events: intact; ", end="")
            print(again.describe())
        finally:
            engine.dispose()
    return rows


def table_sizes(scratch: Scratch) -> str:
    with psycopg.connect(scratch.conninfo) as conn:
        row = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('audit_event')), "
            "pg_size_pretty(pg_total_relation_size('audit_node'))"
        ).fetchone()
    return "?" if row is None else f"audit_event {row[0]}, audit_node {row[1]}"


QUICK_DEFAULTS: Final = (
    ("events", 1_000_000, 10_000),
    ("appends", 2_000, 256),
    ("proofs", 2_000, 200),
    ("checkpoint_every", 100_000, 2_500),
    ("verify_runs", 2, 1),
    ("rounds", 4, 2),
)
"""Option, its default, and its default with ``--quick``."""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute")
    parser.add_argument("--events", type=int, default=None, help="events in the big log")
    parser.add_argument(
        "--appends", type=int, default=None, help="appends per writer count, over all writers"
    )
    parser.add_argument("--writers", default="1,8,32", help="concurrent writer counts")
    parser.add_argument("--proofs", type=int, default=None, help="inclusion proofs to time")
    parser.add_argument("--checkpoint-every", type=int, default=None, metavar="EVENTS")
    parser.add_argument("--verify-runs", type=int, default=None, help="verify_log runs; best")
    parser.add_argument(
        "--rounds", type=int, default=None, help="turns of bare loop and append; 4 (2 quick)"
    )
    parser.add_argument("--postgres", default=DEFAULT_ADMIN_URL, metavar="ADMIN_URL")
    parser.add_argument("--skip-sqlite", action="store_true", help="no SQLite append runs")
    parser.add_argument("--skip-cli", action="store_true", help="no `ketenhub audit verify` run")
    parser.add_argument(
        "--skip-prototype", action="store_true", help="no run of the next design's prototype"
    )
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    for name, full, quick in QUICK_DEFAULTS:
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    counts = (args.events, args.checkpoint_every, args.verify_runs, args.proofs, args.appends)
    if min(*counts, args.rounds) < 1:
        parser.error("the sizes and counts must be positive")
    writer_counts = [int(part) for part in args.writers.split(",") if part.strip()]
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    for line in machine():
        print(line)
    print(f"load average at start: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="ketenhub-bench-audit-") as tmp:
        rows = run_postgres(args, writer_counts, data_dir=Path(tmp) / "hub")
    if not args.skip_sqlite:
        sqlite = sqlite_appends(writer_counts=writer_counts, total=args.appends, seed=args.seed)
        print_appends(sqlite)
        rows += append_rows(sqlite)
    print(f"load average at end: {load_average()}")
    print()
    print(f"{'Targets':<46}{'measured':>12}{'target':>14}")
    for name, value, target, unit, note, at_least in rows:
        limit = f"{'>=' if at_least else '<='} {target:g} {unit}"
        aside = f" ({note})" if note else ""
        verdict = met(value, target, at_least=at_least)
        print(f"{name:<46}{value:>9.2f} {unit:<2}{limit:>14}  {verdict}{aside}")


if __name__ == "__main__":
    main()
