"""Prototype of the audit trail's next design beside the floor of the present one.

A benchmark and a prototype, not part of the hub: nothing here is wired into it, and it runs in
scratch tables of its own. It measures, at the same writer counts and in one run:

1. **The bare loop**, the floor of one PostgreSQL sequencer (the design of :mod:`audit.log`):
   per transaction ``pg_advisory_xact_lock`` on a fixed key, one INSERT of a 400-byte row and
   COMMIT (with fsync, as the server is configured). Every writer has its own psycopg
   connection. Whatever the hub's append does beyond this, this is as fast as a log can go in
   which every appending transaction holds one global lock until its commit: at most
   ``1 / (time held)`` events per second, however many writers.

2. **A queue and a batch integrator** (the shape of Trillian's log, with a promise like
   Rekor's signed entry timestamp):

   * *Accept*, in the request's transaction and under no global lock: INSERT the event's leaf
     without its ``seq`` (``time`` included: the time it was accepted) into a queue table, and
     COMMIT. After the commit, the hub signs a *promise* with the audit key, a signed note
     ``<origin> / promise <queue id> / <base64 SHA-256 of the queued leaf>``, and that is what
     the answer carries instead of a receipt with a ``seq``. Accepts commit in parallel, so
     PostgreSQL's group commit shares one WAL flush among many of them.
   * *Integrate*, one integrator at a time across all replicas (an advisory lock): take up to
     ``--batch`` queued rows in queue order (``DELETE … RETURNING``), give them the next
     ``seq`` values, compute each leaf hash with :func:`audit.events.leaf_hash_of` and the
     completed subtrees with :class:`audit.merkle.MerkleAccumulator` (the project's own code,
     so the tree is the same tree), COPY events and nodes into tables shaped like
     ``audit_event`` and ``audit_node``, and COMMIT: one lock, one fsync per batch, not per
     event. A checkpoint would then be signed over the new size, as today.

   The figures: accepts per second and their latency (p50, p95), the integrator's rate while
   the writers run (events per second of wall time) and its capacity (events per second of its
   own busy time), the delay from promise to inclusion, and a check at the end that the
   integrated tree's root equals the root rebuilt from the stored leaves, every leaf hash
   recomputed from its columns.

Run from the project root, with PostgreSQL running::

    .venv/bin/python benchmarks/sequencer_prototype.py [--quick] [--appends 4000]
        [--writers 1,8,32] [--batch 500] [--postgres ADMIN_URL]

It creates a scratch database (migrated with the hub's migrations, for the tables' shapes),
and drops it afterwards. :mod:`benchmarks.audit` runs the same functions in its own run.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from audit import merkle
from audit.canonical import canonical_json
from audit.events import LEAF_FIELDS, Action, ActorType, Event, Outcome, leaf_hash_of
from audit.notes import NoteSigner
from hub.core import db

DEFAULT_ADMIN_URL: Final = "postgresql://postgres@127.0.0.1:5432/test"
ORIGIN: Final = "bench.ketenhub.example/audit"
BARE_LOCK_KEY: Final = 0x6B657465_6E626172  # not the log's key: the hub's appends never wait
INTEGRATOR_LOCK_KEY: Final = 0x6B657465_6E696E74
PAYLOAD_BYTES: Final = 400
WARMUP: Final = 2


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@dataclass(frozen=True, slots=True)
class LoopResult:
    """One run of the bare loop: per transaction, latency, lock wait and lock held (ms)."""

    writers: int
    latency_ms: list[float]
    wait_ms: list[float]
    held_ms: list[float]
    wall_s: float

    @property
    def events(self) -> int:
        return len(self.latency_ms)

    @property
    def held_rate(self) -> float:
        """Events per second the lock allows: 1 / the mean time it is held."""
        return 1000 / statistics.fmean(self.held_ms)

    @property
    def throughput(self) -> float:
        return self.events / self.wall_s


def create_tables(conninfo: str, schema: str) -> None:
    """The scratch tables: the bare loop's, the queue, and copies of the log's tables."""
    name = sql.Identifier(schema)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(name))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.bare_append "
                "(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL)"
            ).format(name)
        )
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.queue (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                " body text NOT NULL)"
            ).format(name)
        )
        for table in ("audit_event", "audit_node"):
            conn.execute(
                sql.SQL("CREATE TABLE {}.{} (LIKE public.{} INCLUDING ALL)").format(
                    name, sql.Identifier(table), sql.Identifier(table)
                )
            )


def drop_schema(conninfo: str, schema: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _run_writers(
    writers: int, work: Any, connect: Any
) -> tuple[list[tuple[float, float, float]], float]:
    """``writers`` threads, each with its own connection (``connect()``), each calling
    ``work(conn)`` -> (latency, wait, held) in seconds for :data:`WARMUP` untimed calls and
    then ``per_writer`` timed ones. Returns the samples and the wall time."""
    per_writer = work.per_writer
    samples: list[tuple[float, float, float]] = []
    failures: list[BaseException] = []
    start = threading.Barrier(writers + 1)

    def writer() -> None:
        try:
            with connect() as conn:
                for _ in range(WARMUP):
                    work(conn)
                start.wait()
                samples.extend(work(conn) for _ in range(per_writer))
        except BaseException as exc:
            failures.append(exc)
            start.abort()
            raise

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    with suppress(threading.BrokenBarrierError):
        start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{writers} writers failed: {failures[0]!r}")
    return samples, wall


class _BareWork:
    def __init__(self, schema: str, per_writer: int) -> None:
        self.per_writer = per_writer
        self._insert = sql.SQL("INSERT INTO {}.bare_append (body) VALUES (%s)").format(
            sql.Identifier(schema)
        )
        self._payload = os.urandom(PAYLOAD_BYTES // 2).hex()

    def __call__(self, conn: psycopg.Connection[Any]) -> tuple[float, float, float]:
        t0 = time.perf_counter()
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (BARE_LOCK_KEY,))
        locked = time.perf_counter()
        conn.execute(self._insert, (self._payload,))
        conn.commit()
        t1 = time.perf_counter()
        return t1 - t0, locked - t0, t1 - locked


def bare_loop(conninfo: str, schema: str, *, writers: int, total: int) -> LoopResult:
    """The bare lock-insert-commit loop at ``writers`` writers, ``total`` transactions."""
    samples, wall = _run_writers(
        writers,
        _BareWork(schema, max(1, total // writers)),
        lambda: psycopg.connect(conninfo),
    )
    return LoopResult(
        writers,
        [s[0] * 1000 for s in samples],
        [s[1] * 1000 for s in samples],
        [s[2] * 1000 for s in samples],
        wall,
    )


# -- the prototype ------------------------------------------------------------------------------


@dataclass(slots=True)
class Integrator:
    """The batch integrator: one thread, one connection, its own frontier of the tree."""

    conninfo: str
    schema: str
    batch: int
    accumulator: merkle.MerkleAccumulator = field(default_factory=merkle.MerkleAccumulator)
    integrated: int = 0
    batches: int = 0
    busy_s: float = 0.0
    lag_ms: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.conninfo) as conn:
                while True:
                    done = self.stop.is_set()  # read before the batch: a last pass after it
                    if not self.once(conn) and done:
                        return
                    if not done:
                        time.sleep(0.002)
        except BaseException as exc:
            self.failure = exc
            raise

    def once(self, conn: psycopg.Connection[Any]) -> int:
        """Integrate one batch; returns how many events it held."""
        name = sql.Identifier(self.schema)
        t0 = time.perf_counter()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (INTEGRATOR_LOCK_KEY,))
            rows = conn.execute(
                sql.SQL(
                    "DELETE FROM {0}.queue WHERE id IN "
                    "(SELECT id FROM {0}.queue ORDER BY id LIMIT %s) RETURNING id, body"
                ).format(name),
                (self.batch,),
            ).fetchall()
            if not rows:
                return 0
            rows.sort()
            events: list[tuple[Any, ...]] = []
            nodes: list[tuple[int, int, bytes]] = []
            accepted: list[str] = []
            for _, body in rows:
                fields = json.loads(body)
                leaf = {"seq": self.accumulator.size, **fields}
                digest = leaf_hash_of(leaf)
                nodes.extend(
                    (n.level, n.index, n.digest) for n in self.accumulator.append(digest)[1:]
                )
                events.append((*(leaf.get(column) for column in LEAF_FIELDS), digest))
                accepted.append(fields["time"])
            columns = sql.SQL(", ").join(map(sql.Identifier, (*LEAF_FIELDS, "leaf_hash")))
            with conn.cursor() as cursor:
                copy_events = sql.SQL("COPY {}.audit_event ({}) FROM STDIN").format(name, columns)
                with cursor.copy(copy_events) as copy:
                    for event_row in events:
                        copy.write_row(event_row)
                if nodes:
                    copy_nodes = sql.SQL("COPY {}.audit_node (level, idx, hash) FROM STDIN")
                    with cursor.copy(copy_nodes.format(name)) as copy:
                        for node_row in nodes:
                            copy.write_row(node_row)
        now = datetime.now(UTC)
        self.lag_ms.extend(
            (
                now - datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            ).total_seconds()
            * 1000
            for t in accepted
        )
        self.busy_s += time.perf_counter() - t0
        self.integrated += len(rows)
        self.batches += 1
        return len(rows)


class _AcceptWork:
    """One accept: the queued leaf (without ``seq``) in a transaction of its own, committed
    under no global lock, then the signed promise."""

    def __init__(self, schema: str, per_writer: int, signer: NoteSigner, events: list[Event]):
        self.per_writer = per_writer
        self._insert = sql.SQL("INSERT INTO {}.queue (body) VALUES (%s) RETURNING id").format(
            sql.Identifier(schema)
        )
        self._signer = signer
        self._events = events
        self._next = 0
        self._guard = threading.Lock()
        self.promises: list[str] = []

    def __call__(self, conn: psycopg.Connection[Any]) -> tuple[float, float, float]:
        with self._guard:
            event = self._events[self._next % len(self._events)]
            self._next += 1
        t0 = time.perf_counter()
        leaf = event.leaf(seq=0, time=datetime.now(UTC))
        del leaf["seq"]
        body = canonical_json(leaf)
        row = conn.execute(self._insert, (body.decode(),)).fetchone()
        conn.commit()
        queued = hashlib.sha256(body).digest()
        assert row is not None
        promise = self._signer.sign(
            f"{self._signer.name}\npromise {row[0]}\n{base64.b64encode(queued).decode()}\n"
        )
        t1 = time.perf_counter()
        self.promises.append(promise)
        return t1 - t0, 0.0, 0.0


@dataclass(frozen=True, slots=True)
class PrototypeResult:
    writers: int
    accept_ms: list[float]
    accept_wall_s: float
    integrated: int
    integrate_wall_s: float
    integrator_busy_s: float
    batches: int
    lag_ms: list[float]
    drained: int
    drain_s: float

    @property
    def accepted_rate(self) -> float:
        return len(self.accept_ms) / self.accept_wall_s

    @property
    def integrated_rate(self) -> float:
        return self.integrated / self.integrate_wall_s

    @property
    def capacity(self) -> float:
        return self.integrated / self.integrator_busy_s

    @property
    def drain_rate(self) -> float:
        return self.drained / self.drain_s


def sample_events(count: int) -> list[Event]:
    """Plausible events (a document read by a client, with trace ids and a subject)."""
    return [
        Event(
            action=Action.DOCUMENT_READ,
            outcome=Outcome.SUCCESS,
            actor_type=ActorType.CLIENT,
            actor_id="gm0363-zaaksysteem",
            organisation="GM0363",
            resource_type="document",
            resource_id=f"{index:08x}-1c4e-4a1e-9a5e-00000000cafe",
            trace_id=os.urandom(16).hex(),
            span_id=os.urandom(8).hex(),
            processing_activity_id="urn:ketenhub:verwerkingsactiviteit:inburgering",
            data_subject_id=hashlib.sha256(b"%d" % (index % 97)).hexdigest(),
            data_subject_id_type="vreemdelingennummer",
            policy_rule="gm0363-may-read",
            source_address="10.0.0.7",
        )
        for index in range(count)
    ]


def prototype(
    conninfo: str, schema: str, *, writers: int, total: int, batch: int
) -> PrototypeResult:
    """Accepts at ``writers`` writers with the integrator running beside them; the integrator
    then drains what is left. Checks the integrated tree before it returns."""
    signer = NoteSigner.generate(ORIGIN)
    per_writer = max(1, total // writers)
    work = _AcceptWork(schema, per_writer, signer, sample_events(256))
    integrator = Integrator(conninfo, schema, batch)
    before = _integrated_size(conninfo, schema)
    integrator.accumulator = _resume(conninfo, schema, before)
    thread = threading.Thread(target=integrator.run)
    t0 = time.perf_counter()
    thread.start()
    samples, accept_wall = _run_writers(writers, work, lambda: psycopg.connect(conninfo))
    integrator.stop.set()
    thread.join()
    integrate_wall = time.perf_counter() - t0
    if integrator.failure is not None:
        raise SystemExit(f"the integrator failed: {integrator.failure!r}")
    accepted = len(samples) + writers * WARMUP
    live = (integrator.integrated, integrator.busy_s, integrator.batches)
    if integrator.integrated != accepted:
        raise SystemExit(f"accepted {accepted} events, integrated {integrator.integrated}")
    # The drain: a queue filled while no integrator ran (a backlog), integrated alone.
    backlog, _ = _run_writers(writers, work, lambda: psycopg.connect(conninfo))
    drained = integrator.integrated
    with psycopg.connect(conninfo) as conn:
        t1 = time.perf_counter()
        while integrator.once(conn):
            pass
        drain_s = time.perf_counter() - t1
    drained = integrator.integrated - drained
    if drained != len(backlog) + writers * WARMUP:
        raise SystemExit(f"a backlog of {len(backlog)} events, {drained} integrated")
    check_tree(conninfo, schema, integrator.accumulator)
    return PrototypeResult(
        writers,
        [s[0] * 1000 for s in samples],
        accept_wall,
        live[0],
        integrate_wall,
        live[1],
        live[2],
        integrator.lag_ms[:accepted],
        drained,
        drain_s,
    )


def _integrated_size(conninfo: str, schema: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.audit_event").format(sql.Identifier(schema))
        ).fetchone()
    return int(row[0]) if row else 0


def _resume(conninfo: str, schema: str, size: int) -> merkle.MerkleAccumulator:
    """The integrator's frontier after a restart, from the stored tree (here: the leaves)."""
    if size == 0:
        return merkle.MerkleAccumulator()
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            sql.SQL("SELECT leaf_hash FROM {}.audit_event ORDER BY seq").format(
                sql.Identifier(schema)
            )
        )
        accumulator = merkle.MerkleAccumulator()
        accumulator.extend(bytes(row[0]) for row in rows)
    return accumulator


def check_tree(conninfo: str, schema: str, accumulator: merkle.MerkleAccumulator) -> None:
    """Every stored leaf hash recomputed from its columns, seqs gap-free, the root rebuilt."""
    name = sql.Identifier(schema)
    columns = sql.SQL(", ").join(map(sql.Identifier, (*LEAF_FIELDS, "leaf_hash")))
    rebuilt = merkle.MerkleAccumulator()
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            sql.SQL("SELECT {} FROM {}.audit_event ORDER BY seq").format(columns, name)
        )
        for expected_seq, row in enumerate(rows):
            leaf = {
                column: value
                for column, value in zip(LEAF_FIELDS, row, strict=False)
                if value is not None
            }
            if leaf["seq"] != expected_seq or leaf_hash_of(leaf) != bytes(row[-1]):
                raise SystemExit(f"the prototype's event {expected_seq} does not verify")
            rebuilt.append(bytes(row[-1]))
        stored = conn.execute(sql.SQL("SELECT count(*) FROM {}.audit_node").format(name)).fetchone()
    if rebuilt.root() != accumulator.root() or rebuilt.size != accumulator.size:
        raise SystemExit("the prototype's tree does not match its stored leaves")
    expected_nodes = rebuilt.size - rebuilt.size.bit_count()  # one inner node per merge
    if stored is None or stored[0] != expected_nodes:
        raise SystemExit(f"the prototype stored {stored} tree nodes, expected {expected_nodes}")


# -- report ------------------------------------------------------------------------------------


def describe_loop(name: str, result: LoopResult) -> str:
    return (
        f"{name:<24}{result.writers:>8}{result.events:>8}"
        f"{statistics.median(result.latency_ms):>9.2f}{_percentile(result.latency_ms, 0.95):>9.2f}"
        f"{statistics.median(result.held_ms):>10.3f}{statistics.fmean(result.held_ms):>10.3f}"
        f"{result.held_rate:>11.0f}{result.throughput:>10.0f}"
    )


LOOP_HEADER: Final = (
    f"{'':<24}{'writers':>8}{'events':>8}{'p50 ms':>9}{'p95 ms':>9}{'held p50':>10}"
    f"{'held avg':>10}{'held rate':>11}{'events/s':>10}"
)


def describe_prototype(result: PrototypeResult) -> list[str]:
    accept_p50 = statistics.median(result.accept_ms)
    accept_p95 = _percentile(result.accept_ms, 0.95)
    lag_p50, lag_max = statistics.median(result.lag_ms), max(result.lag_ms)
    return [
        (
            f"prototype, {result.writers} writers: accepted {len(result.accept_ms):,} events at "
            f"{result.accepted_rate:,.0f}/s (accept p50 {accept_p50:.2f} ms, p95 "
            f"{accept_p95:.2f} ms, promise signed);"
        ),
        (
            f"    integrated {result.integrated:,} in {result.batches} batches at "
            f"{result.integrated_rate:,.0f}/s of wall time while accepting "
            f"({result.capacity:,.0f}/s of the integrator's busy time); promise to inclusion "
            f"p50 {lag_p50:.0f} ms, max {lag_max:.0f} ms;"
        ),
        (
            f"    a backlog of {result.drained:,} integrated alone at {result.drain_rate:,.0f}/s;"
            " tree checked"
        ),
    ]


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A migrated scratch database (for the log tables' shapes); yields its libpq URL."""
    name = f"ketenhub_bench_seqproto_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(admin_url).set(database=name)
        engine = db.make_engine(url.set(drivername="postgresql+psycopg"))
        try:
            db.migrate(engine)
        finally:
            engine.dispose()
        yield url.set(drivername="postgresql").render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute")
    parser.add_argument("--appends", type=int, default=None, help="per writer count; 4000")
    parser.add_argument("--writers", default="1,8,32", help="concurrent writer counts")
    parser.add_argument("--batch", type=int, default=500, help="events per integration batch")
    parser.add_argument("--postgres", default=DEFAULT_ADMIN_URL, metavar="ADMIN_URL")
    args = parser.parse_args()
    total = args.appends or (500 if args.quick else 4000)
    writer_counts = [int(part) for part in args.writers.split(",") if part.strip()]
    if total < 1 or args.batch < 1 or not writer_counts or min(writer_counts) < 1:
        parser.error("the counts must be positive")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"cores: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.2f}")
    schema = "sequencer_prototype"
    with scratch_database(args.postgres) as conninfo:
        create_tables(conninfo, schema)
        print(LOOP_HEADER)
        results = []
        for writers in writer_counts:
            bare = bare_loop(conninfo, schema, writers=writers, total=total)
            print(describe_loop("bare lock-insert-commit", bare))
            proto = prototype(conninfo, schema, writers=writers, total=total, batch=args.batch)
            results.append((bare, proto))
        for bare, proto in results:
            for line in describe_prototype(proto):
                print(line)
            print(
                f"    accepted / bare loop's held rate at {bare.writers} writers: "
                f"{proto.accepted_rate / bare.held_rate:.2f}; backlog integration / it: "
                f"{proto.drain_rate / bare.held_rate:.1f}"
            )


if __name__ == "__main__":
    main()
