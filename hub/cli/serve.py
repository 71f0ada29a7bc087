"""``ketenhub serve``: check everything a serving hub needs, then run the HTTP server.

Every check runs here, once, before anything serves: a misconfiguration is one line and an exit
status. One worker serves in this process, with the services the checks built; several
(``--workers N``, ``KETENHUB_WORKERS``, default the cores this process may use) are worker
processes under this one as their supervisor (:mod:`hub.cli.workers`, decision 0037).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any, Final

import uvicorn

from hub.app import SchemaNotCurrentError, check_schema, create_app
from hub.cli import preflight, production
from hub.cli.console import CommandError, load_settings
from hub.cli.directions import demo_directions, issuer_mismatch
from hub.cli.http_server import BoundedHttpToolsProtocol
from hub.cli.running import storage_status
from hub.cli.workers import WORKER_APP, serve_workers
from hub.config import Environment, Settings
from hub.config.logs import LogFormat
from hub.rules import PolicyError
from hub.runtime import build_services
from storage.errors import StorageError

logger = logging.getLogger(__name__)

MAX_WORKERS: Final = 256


def cmd_serve(args: argparse.Namespace) -> None:
    settings = load_settings()
    preflight.check_serving(settings, host=args.host, port=args.port)
    try:
        services = build_services(settings)
        if services.audit.export is not None:
            # A checkpoint export that is not write-once is refused before serving.
            services.audit.export.ensure_ready()
    except StorageError as exc:
        raise CommandError(str(exc), status=storage_status(exc)) from exc
    try:
        try:
            check_schema(services)
            # Checked here too, so a broken policy is one line naming the place, not a traceback.
            services.load_policy()
        except SchemaNotCurrentError as exc:
            raise CommandError(str(exc)) from None
        except PolicyError as exc:
            raise CommandError(str(exc), status=2) from None
        production.check_serving(settings, services.engine)
    except BaseException:
        services.close()
        raise
    _tell_before_serving(settings, port=args.port)  # in this process: once, whatever N
    workers = args.workers if args.workers is not None else settings.resolved_workers
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        # httptools, with the request head bounded (32 KiB): uvicorn sets no limit.
        "http": BoundedHttpToolsProtocol,
        "log_level": settings.log_level.lower(),
        # main() configured logging for both formats; hub.access replaces uvicorn's log.
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
    }
    try:
        if workers == 1:
            uvicorn.run(create_app(settings, services=services), **options)
        else:
            logger.info("serving with %d worker processes", workers)
            config = uvicorn.Config(WORKER_APP, factory=True, workers=workers, **options)
            serve_workers(
                config,
                workers=workers,
                metrics_address=settings.resolved_metrics_address,
                engine=services.engine,
            )
    finally:
        services.close()


def _tell_before_serving(settings: Settings, *, port: int) -> None:
    mismatch = issuer_mismatch(settings, port=port)
    if mismatch is not None:
        # Through the log, in its configured format: a deployment that reads JSON lines gets one.
        logger.warning("%s", mismatch)
    if settings.environment is Environment.DEMO:
        directions = demo_directions(settings)
        if settings.log_format is LogFormat.TEXT:
            # Before uvicorn's lines, so a person sees where to go before the log starts.
            print(*directions, sep="\n", flush=True)
        else:  # every line on the output is a JSON log record
            for line in directions:
                logger.info("%s", line)


def _worker_count(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to {MAX_WORKERS}")
    return int(value)


def add_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the hub's HTTP server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--workers",
        type=_worker_count,
        default=None,
        metavar="N",
        help="worker processes (default KETENHUB_WORKERS, else the cores this process may use)",
    )
    serve.set_defaults(func=cmd_serve)
