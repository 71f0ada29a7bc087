"""The hub's Prometheus metrics: what each one counts, where it is observed, and the exposition.

Every name starts with ``ketenhub_``, and every label has a bounded set of values: a route is
its template (``/api/v1/documents/{document_id}``), never a raw path, and every path no route
matched is ``unmatched``; a method the hub never serves is ``_OTHER``; a client id is one the
hub has registered. No label ever holds personal data, a token or a path parameter.

=================================================  ========================================
``ketenhub_http_requests_total``                    requests answered, by ``method``,
                                                    ``route``, ``status``
``ketenhub_http_request_duration_seconds``          histogram of the same, until the last
                                                    byte of the answer (streamed ones too)
``ketenhub_http_requests_in_flight``                requests being served now
``ketenhub_http_request_body_bytes_total``          body bytes received, by ``method``, ``route``
``ketenhub_http_response_body_bytes_total``         body bytes sent, by ``method``, ``route``
``ketenhub_audit_appends_total``                    events committed to the audit trail, by
                                                    ``action`` and ``outcome``
``ketenhub_audit_append_failures_total``            appends that failed (the request failed)
``ketenhub_audit_append_lock_wait_seconds``         histogram: waiting for the append lock
``ketenhub_audit_append_lock_hold_seconds``         histogram: from the lock to the end of
                                                    its transaction (commit or rollback)
``ketenhub_audit_tree_size``                        events in the log (read at scrape time)
``ketenhub_audit_checkpoint_tree_size``             events the newest checkpoint covers
``ketenhub_audit_checkpoint_age_seconds``           seconds since the newest checkpoint
``ketenhub_audit_state_up``                         1 if the two reads above succeeded
``ketenhub_db_pool_size``                           connections each pool keeps, by ``pool``
``ketenhub_db_pool_checked_out``                    connections in use, by ``pool``
``ketenhub_db_pool_overflow``                       connections open beyond the pool's size
``ketenhub_object_store_errors_total``              object store failures, by ``operation``
                                                    and ``kind``
``ketenhub_oauth_tokens_total``                     token requests, by ``client_id`` and
                                                    ``outcome``
``ketenhub_logins_total``                           web UI logins, by ``outcome``
``process_*``, ``python_*``                         prometheus-client's default collectors
=================================================  ========================================

Outcomes are the audit trail's (``success``, ``denied``, ``not_found``, ``invalid``, ``error``).
Audit appends, tokens and logins are counted from the events the trail commits (so a login the
web UI records is counted without any code of its own, and an append whose transaction rolled
back is not counted); a token request by a client the hub does not know is ``client_id``
``unknown``. Gauges that need the database are read when scraped, one cheap query each, through
the read-only pool (:func:`hub.core.db.read_only`), so a scrape never waits on the audit lock.

Each hub has a registry of its own rather than prometheus-client's global one, so two hubs in one
process (tests) never share counts.

Several worker processes (``ketenhub serve --workers N``, decision 0037) are one hub: a scrape
answered by any of them, or by the metrics listener that the supervising process runs, shows
the counts of all of them. That is prometheus-client's multiprocess mode: ``serve`` creates a
fresh directory for the run and names it in ``PROMETHEUS_MULTIPROC_DIR`` before any worker
starts; every worker's counters, histograms and gauges are then kept in memory-mapped files
there, and :meth:`HubMetrics.exposition` sums them (a ``MultiProcessCollector``). Counters and
histograms of a worker that ended still count; the in-flight gauge is the sum over the live
workers (:data:`GAUGE_MODES`), and a worker's gauge file goes when it ends (``serve`` calls
``mark_process_dead``). The scrape-time gauges (pools, audit state) are read by the process that
answers the scrape: the pool gauges are that process's pools. The ``process_*`` metrics are
the sums over the live workers (:class:`WorkerProcesses`: CPU seconds, memory, open files; the
oldest start), read from ``/proc`` at scrape time for every worker that has a live gauge file;
the ``python_*`` ones (garbage collector, interpreter) describe one process and are left out.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from audit import checkpoints
from audit.events import Action, Outcome, parse_time
from audit.log import AppendTiming, AuditLog, Recorded
from hub.core import db
from hub.observability.access_log import UNMATCHED

__all__ = ["UNMATCHED", "AuditMetrics", "DatabaseCollector", "HubMetrics", "error_kind"]

logger = logging.getLogger(__name__)

UNKNOWN_CLIENT: Final = "unknown"
"""The ``client_id`` label of a token request by a client the hub does not know."""

_LATENCY_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
"""Seconds: small API calls, up to downloads of large documents."""
_LOCK_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
"""Seconds: the append lock is held for a transaction, normally a few milliseconds."""

GAUGE_MODES: Final = {"ketenhub_http_requests_in_flight": "livesum"}
"""How each gauge combines across worker processes in multiprocess mode."""

_PENDING: Final = "ketenhub.metrics.audit_pending"


MULTIPROCESS_DIR_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's switch: set before the library is imported, its metrics keep their values
in files in this directory (so ``serve`` sets it before it starts a worker)."""


def multiprocess_dir() -> str | None:
    """The multiprocess directory of this run, if the hub runs as several workers."""
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None


class HubMetrics:
    """Every metric of one hub, on a registry of its own; aggregated over the workers whose
    files are in ``shared_dir`` (default: :func:`multiprocess_dir`) when there is one."""

    def __init__(self, *, shared_dir: str | None = None) -> None:
        self.shared_dir = shared_dir if shared_dir is not None else multiprocess_dir()
        self._scraped: list[Collector] = []
        # No ``*_created`` series beside every counter and histogram: they double what
        # Prometheus stores, and it derives resets itself. (A process-wide switch of the library.)
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in the library
        self.registry = CollectorRegistry()
        registry = self.registry
        route = ("method", "route")
        self.requests = Counter(
            "ketenhub_http_requests",
            "HTTP requests answered, by method, route template and status",
            [*route, "status"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "ketenhub_http_request_duration_seconds",
            "Time from a request's arrival to the last byte of its answer",
            [*route, "status"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "ketenhub_http_requests_in_flight",
            "HTTP requests being served",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.request_bytes = Counter(
            "ketenhub_http_request_body_bytes",
            "Request body bytes received (uploads), counted as they arrive",
            route,
            registry=registry,
        )
        self.response_bytes = Counter(
            "ketenhub_http_response_body_bytes",
            "Response body bytes sent (downloads), counted as they leave",
            route,
            registry=registry,
        )
        self.audit_appends = Counter(
            "ketenhub_audit_appends",
            "Events committed to the audit trail, by action and outcome",
            ["action", "outcome"],
            registry=registry,
        )
        self.audit_append_failures = Counter(
            "ketenhub_audit_append_failures",
            "Audit appends that failed; the action they would record was not done",
            registry=registry,
        )
        self.audit_lock_wait = Histogram(
            "ketenhub_audit_append_lock_wait_seconds",
            "Time a transaction waited for the audit log's append lock",
            buckets=_LOCK_BUCKETS,
            registry=registry,
        )
        self.audit_lock_hold = Histogram(
            "ketenhub_audit_append_lock_hold_seconds",
            "Time a transaction held the audit log's append lock, until commit or rollback",
            buckets=_LOCK_BUCKETS,
            registry=registry,
        )
        self.store_errors = Counter(
            "ketenhub_object_store_errors",
            "Object store operations that failed, by operation and kind of error",
            ["operation", "kind"],
            registry=registry,
        )
        self.tokens = Counter(
            "ketenhub_oauth_tokens",
            "Token requests at /oauth/token, by client and outcome",
            ["client_id", "outcome"],
            registry=registry,
        )
        self.logins = Counter(
            "ketenhub_logins",
            "Logins to the web UI, by outcome",
            ["outcome"],
            registry=registry,
        )
        for outcome in Outcome:
            # At zero from the start (the web UI's login comes later): dashboards and alerts
            # see the series before the first login.
            self.logins.labels(outcome=outcome.value)
        if self.shared_dir is None:  # they describe this process: see the module docstring
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.audit = AuditMetrics(self)

    def watch_database(self, engine: Engine) -> None:
        """Read the audit log's state and the connection pools of ``engine`` at scrape time."""
        collector = DatabaseCollector(engine)
        self._scraped.append(collector)
        self.registry.register(collector)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The scrape's body and content type: OpenMetrics if ``accept`` asks for it."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self._scrape_registry()), content_type

    def _scrape_registry(self) -> CollectorRegistry:
        if self.shared_dir is None:
            return self.registry
        # Every worker's files, this one's included, summed; not this registry too, whose
        # metrics are the same files again (prometheus-client's multiprocess documentation).
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.shared_dir)  # type: ignore[no-untyped-call]
        registry.register(WorkerProcesses(self.shared_dir))
        for collector in self._scraped:
            registry.register(collector)
        return registry

    def observe_request(
        self,
        *,
        method: str,
        route: str,
        status: int,
        duration: float,
        bytes_in: int,
        bytes_out: int,
    ) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_duration.labels(method, route, str(status)).observe(duration)
        if bytes_in:
            self.request_bytes.labels(method, route).inc(bytes_in)
        if bytes_out:
            self.response_bytes.labels(method, route).inc(bytes_out)

    def store_error(self, operation: str, error: Exception) -> None:
        self.store_errors.labels(operation, error_kind(error)).inc()


_LIVE_GAUGE_FILE: Final = re.compile(r"^gauge_livesum_(\d+)\.db$")
"""The in-flight gauge's file of one worker: there while the worker lives (module docstring)."""


class WorkerProcesses:
    """``process_*`` summed over the live workers whose files are in ``shared_dir``."""

    def __init__(self, shared_dir: str) -> None:
        self._dir = Path(shared_dir)

    def _pids(self) -> list[int]:
        found = (_LIVE_GAUGE_FILE.match(path.name) for path in self._dir.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for pid in self._pids():
            # A worker that ended meanwhile has no /proc entry: the collector yields nothing.
            process = ProcessCollector(pid=lambda pid=pid: pid, registry=None)  # type: ignore[misc]
            for family in process.collect():
                if family.name not in families:
                    families[family.name] = family
                    continue
                kept = families[family.name]
                combine = min if family.name.endswith("start_time_seconds") else _sum
                if family.name.endswith("max_fds"):
                    combine = max
                kept.samples[0] = kept.samples[0]._replace(
                    value=combine(kept.samples[0].value, family.samples[0].value)
                )
        return list(families.values())


def _sum(first: float, second: float) -> float:
    return first + second


_CAMEL: Final = re.compile(r"(?<!^)(?=[A-Z])")


def error_kind(error: Exception) -> str:
    """``StoreUnavailable`` -> ``store_unavailable``: the class names of ``storage.errors``,
    a fixed set, so the label stays bounded."""
    return _CAMEL.sub("_", type(error).__name__).lower()


class AuditMetrics:
    """Observes the audit log's appends (an :class:`audit.log.AppendObserver`).

    The first append of a transaction took the lock: its wait is observed at once, and its hold
    when the transaction ends. The events are counted only once their transaction has committed.
    """

    def __init__(self, metrics: HubMetrics) -> None:
        self._metrics = metrics

    def appended(self, session: Session, recorded: Recorded, timing: AppendTiming) -> None:
        pending: list[dict[str, object]] | None = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = []
            self._metrics.audit_lock_wait.observe(timing.waited)
            locked_at = timing.locked_at
            db.after_commit(session, lambda: self._ended(session, locked_at, committed=True))
            db.after_rollback(session, lambda: self._ended(session, locked_at, committed=False))
        pending.append(recorded.leaf)

    def failed(self) -> None:
        self._metrics.audit_append_failures.inc()

    def _ended(self, session: Session, locked_at: float, *, committed: bool) -> None:
        self._metrics.audit_lock_hold.observe(time.perf_counter() - locked_at)
        leaves: list[dict[str, object]] = session.info.pop(_PENDING, [])
        if committed:
            for leaf in leaves:
                self._count(leaf)

    def _count(self, leaf: dict[str, object]) -> None:
        action, outcome = str(leaf.get("action")), str(leaf.get("outcome"))
        self._metrics.audit_appends.labels(action, outcome).inc()
        if action == Action.TOKEN_ISSUE:
            client = leaf.get("actor_id") if leaf.get("actor_type") == "client" else None
            self._metrics.tokens.labels(str(client or UNKNOWN_CLIENT), outcome).inc()
        elif action == Action.LOGIN:
            self._metrics.logins.labels(outcome).inc()


class DatabaseCollector:
    """Gauges read from the database and its pools when Prometheus scrapes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def describe(self) -> Iterable[Metric]:
        # Names only, so the registry can check for duplicates without reading the database.
        return self._families()

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        self._pools(*families[:3])
        self._audit_state(*families[3:])
        return families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        pool = ["pool"]
        return [
            GaugeMetricFamily(
                "ketenhub_db_pool_size", "Connections the pool keeps open", labels=pool
            ),
            GaugeMetricFamily(
                "ketenhub_db_pool_checked_out", "Connections in use by the hub", labels=pool
            ),
            GaugeMetricFamily(
                "ketenhub_db_pool_overflow",
                "Connections open beyond the pool's size, under load",
                labels=pool,
            ),
            GaugeMetricFamily("ketenhub_audit_tree_size", "Events in the audit log"),
            GaugeMetricFamily(
                "ketenhub_audit_checkpoint_tree_size", "Events the newest signed checkpoint covers"
            ),
            GaugeMetricFamily(
                "ketenhub_audit_checkpoint_age_seconds",
                "Seconds since the newest signed checkpoint",
            ),
            GaugeMetricFamily(
                "ketenhub_audit_state_up", "1 if the audit log's state could be read at this scrape"
            ),
        ]

    def _pools(
        self, size: GaugeMetricFamily, used: GaugeMetricFamily, overflow: GaugeMetricFamily
    ) -> None:
        for name, engine in (("main", self._engine), ("read_only", db.read_only(self._engine))):
            pool = engine.pool
            if isinstance(pool, QueuePool):  # in-memory SQLite uses a pool without a size
                size.add_metric([name], pool.size())
                used.add_metric([name], pool.checkedout())
                # QueuePool counts overflow from -size up: negative while the pool is not full.
                overflow.add_metric([name], max(pool.overflow(), 0))

    def _audit_state(
        self,
        tree_size: GaugeMetricFamily,
        checkpoint_size: GaugeMetricFamily,
        checkpoint_age: GaugeMetricFamily,
        up: GaugeMetricFamily,
    ) -> None:
        try:
            with db.read_only(self._engine).connect() as connection:
                size = AuditLog.size(connection)
                newest = checkpoints.latest(connection)
        except SQLAlchemyError as exc:
            # The driver's class only: its message may quote the statement or the host.
            logger.warning("metrics: the audit log's state cannot be read: %s", type(exc).__name__)
            up.add_metric([], 0)
            return
        up.add_metric([], 1)
        tree_size.add_metric([], size)
        if newest is not None:
            checkpoint_size.add_metric([], newest.tree_size)
            signed = parse_time(newest.signed_at)
            checkpoint_age.add_metric([], max((datetime.now(UTC) - signed).total_seconds(), 0))
