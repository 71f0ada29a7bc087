"""``ketenhub serve --workers N``: several worker processes are one hub (decision 0037).

- A timer's lease is claimed by exactly one process per interval, on both databases
  (:class:`hub.core.timers.TimerLeases`, in process, from many threads at once).
- A real hub with 2 worker processes, on each database kind, under concurrent uploads,
  metadata reads and downloads from 8 threads: every request answered, both workers served,
  one gap-free log that ``ketenhub audit verify`` accepts with every request's event in it;
  one scrape of the supervisor's metrics listener counts the requests of both workers; with a
  second replica (another ``serve`` with 2 workers) on the same database, a job with a 1 s
  interval ran about once per second, not once per process; a worker killed is replaced; on
  SIGTERM every worker ends and the run's metrics directory is removed.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select

from audit.events import Action, Outcome
from audit.models import AuditEvent
from hub.core import db
from hub.core.timers import TimerLeases
from hub.tables.timers import TimerLease
from tests.fixtures.cli import ketenhub_env, run_ketenhub, serve_process
from tests.fixtures.databases import PostgresDatabases
from tests.fixtures.documents import pdf
from tests.fixtures.processes import free_port
from tests.fixtures.served import DATABASE_KINDS, SecurityHub, start_hub

THREADS: Final = 8
ROUNDS: Final = 4  # per thread: an upload, its metadata, its content
LEASE_INTERVAL: Final = 1  # seconds: the retention job's interval in the served test
LEASE_WINDOW: Final = 6.0  # seconds both replicas run together

_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]


# -- the lease itself ---------------------------------------------------------------------------


def test_one_claimer_per_interval_among_concurrent_processes(migrated_engine: Engine) -> None:
    holders = [TimerLeases(migrated_engine, f"process-{n}") for n in range(THREADS)]
    start = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

    def claims_at(moment: datetime) -> list[bool]:
        barrier = threading.Barrier(THREADS)

        def claim(leases: TimerLeases) -> bool:
            barrier.wait()
            return leases.claim("sweep", 10, now=moment)

        with ThreadPoolExecutor(THREADS) as pool:
            return list(pool.map(claim, holders))

    assert claims_at(start).count(True) == 1  # the first claim creates the row
    assert claims_at(start + timedelta(seconds=9.9)).count(True) == 0
    assert claims_at(start + timedelta(seconds=10)).count(True) == 1
    assert claims_at(start + timedelta(seconds=10.5)).count(True) == 0
    # A holder that died leaves nothing held: after the interval anyone claims again.
    assert claims_at(start + timedelta(seconds=60)).count(True) == 1
    # A shorter interval, set on a later start, applies at once.
    assert holders[0].claim("sweep", 1, now=start + timedelta(seconds=61)) is True
    with db.transaction(migrated_engine) as session:
        row = session.get(TimerLease, "sweep")
        assert row is not None
        assert row.runs == 4
        assert row.holder == "process-0"


def test_a_worker_count_below_one_is_a_usage_error(tmp_path: Path) -> None:
    env = ketenhub_env(tmp_path / "var")
    refused = run_ketenhub(env, "serve", "--workers", "0", check=False)
    assert refused.returncode == 2
    assert "--workers: a whole number from 1 to 256" in refused.stderr


# -- a served hub with 2 workers ----------------------------------------------------------------


@pytest.fixture(params=DATABASE_KINDS)
def workers_hub(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: PostgresDatabases
) -> Iterator[SecurityHub]:
    temp = tmp_path / "tmp"  # serve's metrics directory is made here, so the test finds it
    temp.mkdir()
    env = {
        "KETENHUB_WORKERS": "2",
        "KETENHUB_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "KETENHUB_RETENTION_INTERVAL": str(LEASE_INTERVAL),
        "KETENHUB_LOG_LEVEL": "WARNING",  # errors stand out from hundreds of requests
        "TMPDIR": str(temp),
    }
    with start_hub(tmp_path, request.param, postgres_databases, env=env) as hub:
        yield hub


def _children(pid: int) -> set[int]:
    """The worker processes of the supervisor ``pid`` (not multiprocessing's resource tracker,
    a child too)."""
    workers = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue  # ended meanwhile
        if b"resource_tracker" not in command:
            workers.add(int(child))
    return workers


def _rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmRSS:")]
    return int(line.split()[1]) * 1024


def _metrics_dir(hub: SecurityHub) -> Path:
    (found,) = (Path(hub.env["TMPDIR"])).glob("ketenhub-metrics-*")
    return found


def _requests_counted(path: Path) -> int:
    """The HTTP requests one worker's counter file holds."""
    values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
    return int(
        sum(value for key, value, _, _ in values if key.startswith('["ketenhub_http_requests"'))
    )


def _scrape(hub: SecurityHub) -> dict[str, float]:
    """``ketenhub_http_requests_total`` by route and status, from the metrics listener."""
    body = httpx.get(f"http://{hub.env['KETENHUB_METRICS_ADDRESS']}/metrics", timeout=30).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        if family.name == "ketenhub_http_requests":
            for sample in family.samples:
                if sample.name == "ketenhub_http_requests_total":
                    route, status = sample.labels["route"], sample.labels["status"]
                    key = f"{sample.labels['method']} {route} {status}"
                    counts[key] = counts.get(key, 0) + sample.value
    return counts


def _lease_runs(engine: Engine, name: str) -> int:
    with db.transaction(engine) as session:
        lease = session.get(TimerLease, name)
        return lease.runs if lease is not None else 0


def _load(hub: SecurityHub, worker: int, start: threading.Barrier) -> list[tuple[str, int]]:
    """Uploads, metadata reads and downloads, each on a new connection (so the kernel hands
    them to either worker); the statuses, and the content compared byte for byte."""
    auth = hub.auth("demo-iom")
    answers = []
    start.wait()
    for round_ in range(ROUNDS):
        content = pdf(64 * 1024, seed=worker * ROUNDS + round_)
        created = httpx.post(
            hub.url("/api/v1/documents"),
            data={"document_type": "travel_document", "v_number": "1234567890"},
            files={"file": ("document.pdf", content, "application/pdf")},
            headers=auth,
            timeout=60,
        )
        answers.append(("upload", created.status_code))
        if created.status_code != 201:
            continue
        document = hub.url(f"/api/v1/documents/{created.json()['id']}")
        answers.append(("read", httpx.get(document, headers=auth, timeout=60).status_code))
        download = httpx.get(f"{document}/content", headers=auth, timeout=60)
        same = hashlib.sha256(download.content).digest() == hashlib.sha256(content).digest()
        answers.append(("download", download.status_code if same else -1))
    return answers


def test_two_workers_under_concurrent_load_are_one_hub(  # noqa: PLR0915 - one served story
    workers_hub: SecurityHub,
) -> None:
    hub = workers_hub
    supervisor = hub.pid
    workers = _children(supervisor)
    assert len(workers) == 2
    hub.token("demo-iom")  # before the load: the token request is counted on its own
    before = sum(_scrape(hub).values())

    start = threading.Barrier(THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(_load, hub, worker, start) for worker in range(THREADS)]
        answers = [answer for future in futures for answer in future.result()]
    expected = {"upload": 201, "read": 200, "download": 200}
    assert len(answers) == THREADS * ROUNDS * 3
    assert all(status == expected[kind] for kind, status in answers), Counter(answers)

    # One scrape of the supervisor's listener counts every request, whichever worker answered
    # it; each worker's own file shows that both answered some.
    # (A request is counted just after its last byte is sent: give the last ones a moment.)
    deadline = time.monotonic() + 10
    while (counted := sum(_scrape(hub).values())) - before < len(answers):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert counted - before == len(answers)
    # The process metrics are the workers' together: both workers' memory is in the sum.
    exposition = httpx.get(f"http://{hub.env['KETENHUB_METRICS_ADDRESS']}/metrics").text
    (rss,) = [
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "process_resident_memory_bytes"
    ]
    assert rss >= sum(_rss(pid) for pid in workers) * 0.8  # one worker alone is about half
    files = sorted(_metrics_dir(hub).glob("counter_*.db"))
    served = {path.name: _requests_counted(path) for path in files}
    assert {f"counter_{pid}.db" for pid in workers} <= set(served)
    assert all(served[f"counter_{pid}.db"] > 0 for pid in workers), served

    # One gap-free log holding every request's event.
    engine = db.make_engine(hub.env["KETENHUB_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            seqs = list(connection.execute(select(_EVENTS.c.seq).order_by(_EVENTS.c.seq)).scalars())
            actions = Counter(
                connection.execute(
                    select(_EVENTS.c.action).where(_EVENTS.c.outcome == Outcome.SUCCESS)
                ).scalars()
            )
        assert seqs == list(range(len(seqs)))
        assert actions[Action.DOCUMENT_UPLOAD] == THREADS * ROUNDS
        assert actions[Action.DOCUMENT_READ] == THREADS * ROUNDS
        assert actions[Action.DOCUMENT_DOWNLOAD] == THREADS * ROUNDS
        verified = run_ketenhub(hub.env, "audit", "verify", check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "audit trail intact" in verified.stdout

        # A second replica of 2 workers on the same database: 4 processes tick the retention
        # timer every second, and the job runs about once a second in all.
        replica = {**hub.env, "KETENHUB_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"}
        with serve_process(replica, port=free_port(), timeout=90):
            runs_before = _lease_runs(engine, "retention")
            time.sleep(LEASE_WINDOW)
            ran = _lease_runs(engine, "retention") - runs_before
        # Without the lease 4 processes would have run it about 4 times a second.
        assert 2 <= ran <= LEASE_WINDOW / LEASE_INTERVAL + 2, ran
    finally:
        engine.dispose()

    # A worker that dies is replaced, and the hub keeps answering.
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while len(_children(supervisor) - {victim}) < 2:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.2)
    assert hub.alive()

    # SIGTERM ends every worker and the supervisor, and the run's metrics directory goes.
    current = _children(supervisor)
    hub.server.process.send_signal(signal.SIGTERM)
    assert hub.server.process.wait(timeout=60) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in current)
    assert not list(Path(hub.env["TMPDIR"]).glob("ketenhub-metrics-*"))
