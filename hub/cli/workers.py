"""``ketenhub serve --workers N`` with N > 1: one supervising process and N worker processes.

The supervisor (the process ``serve`` started in) has already checked everything a serving hub
needs (:mod:`hub.cli.serve`), so a misconfiguration is still one line and one exit status. It
then binds the listening socket once and starts the workers with uvicorn's multiprocess
supervisor: each worker is a fresh interpreter (``spawn``) that imports :func:`worker_app`,
builds its own services in the app's lifespan and accepts connections from the shared socket.

What the supervisor adds to uvicorn's (decision 0037):

- one directory per run for prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``),
  created before the first worker starts and removed when the supervisor ends; the gauge files
  of a worker that ended are removed as it is replaced (``mark_process_dead``);
- the metrics listener (``KETENHUB_METRICS_ADDRESS``), served by the supervisor for all workers:
  one address cannot be bound by N processes, and the supervisor outlives each of them;
- ``KETENHUB_WORKERS`` set to N in the workers' environment, so each takes its share of the
  per-process limits (:meth:`hub.web.limits.UploadSlots.shared_by`).

uvicorn's supervisor pings every worker every half second; one that died or hangs (no answer
within 5 s) is killed and replaced by a new one, and its in-flight requests are lost (their
clients see the connection close). A worker that fails while starting (lifespan or import
error) stops the whole server instead: it would fail the same way again. SIGINT and SIGTERM
stop every worker (each finishes its lifespan: timers end, refusal summaries are written), then
the supervisor; SIGHUP replaces the workers one by one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from typing import Final

from fastapi import FastAPI
from prometheus_client.multiprocess import mark_process_dead
from sqlalchemy import Engine
from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from hub.app import create_app
from hub.cli.console import CommandError, load_logging_settings, load_settings
from hub.config import ListenAddress
from hub.observability.listener import ListenError, MetricsListener
from hub.observability.logs import configure_logging
from hub.observability.metrics import MULTIPROCESS_DIR_VARIABLE, HubMetrics

logger = logging.getLogger(__name__)

WORKERS_VARIABLE: Final = "KETENHUB_WORKERS"
WORKER_APP: Final = "hub.cli.workers:worker_app"
"""The import string uvicorn gives each worker (a factory: called once per worker)."""


def worker_app() -> FastAPI:
    """The app of one worker process: logging as ``ketenhub`` sets it up, then the hub.

    Runs in a fresh interpreter, so it repeats what :func:`hub.cli.running.run` did in the
    supervisor. The services are built by the app's lifespan, in this process.
    """
    os.umask(0o077)
    configure_logging(load_logging_settings())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = load_settings()
    return create_app(settings, workers=settings.resolved_workers, metrics_listener=False)


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, removing the live-gauge files of every worker that is gone."""

    def __init__(self, config: Config, *, sockets: list[socket.socket], shared_dir: str) -> None:
        super().__init__(config, sockets=sockets)
        self._shared_dir = shared_dir
        self._known: set[int] = set()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        # Called every half second, after the signals' handlers (a SIGHUP's restarts included).
        live = {process.pid for process in self.processes if process.pid is not None}
        for pid in self._known - live:
            mark_process_dead(pid, self._shared_dir)  # type: ignore[no-untyped-call]
        self._known = live

    @property
    def failed_to_start(self) -> bool:
        return any(process.exitcode == STARTUP_FAILURE for process in self.processes)


@contextlib.contextmanager
def shared_metrics_dir() -> Iterator[str]:
    """A fresh multiprocess directory, named in the environment the workers inherit."""
    path = tempfile.mkdtemp(prefix="ketenhub-metrics-")
    previous = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    os.environ[MULTIPROCESS_DIR_VARIABLE] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_DIR_VARIABLE, None)
        else:
            os.environ[MULTIPROCESS_DIR_VARIABLE] = previous
        shutil.rmtree(path, ignore_errors=True)


def serve_workers(
    config: Config, *, workers: int, metrics_address: ListenAddress | None, engine: Engine
) -> None:
    """Run ``workers`` processes serving ``config``'s app until a signal stops them."""
    os.environ[WORKERS_VARIABLE] = str(workers)
    with shared_metrics_dir() as shared_dir:
        listener = None
        if metrics_address is not None:
            metrics = HubMetrics(shared_dir=shared_dir)
            metrics.watch_database(engine)
            try:
                listener = MetricsListener(metrics_address, metrics)
            except ListenError as exc:
                raise CommandError(str(exc), status=2) from None
        bound = config.bind_socket()
        supervisor = _Supervisor(config, sockets=[bound], shared_dir=shared_dir)
        try:
            if listener is not None:
                listener.start()
            supervisor.run()
        finally:
            if listener is not None:
                listener.stop()
            bound.close()
    if supervisor.failed_to_start:
        raise CommandError("a worker failed to start (its log is above); stopped", status=1)
