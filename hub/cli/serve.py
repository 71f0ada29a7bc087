"""``ketenhub serve``: check everything a serving hub needs, then run the HTTP server."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import uvicorn

from hub.app import SchemaNotCurrentError, check_schema, create_app
from hub.cli import preflight, production
from hub.cli.console import CommandError, load_settings
from hub.cli.directions import demo_directions, issuer_mismatch
from hub.cli.http_server import BoundedHttpToolsProtocol
from hub.cli.running import storage_status
from hub.config import Environment
from hub.config.logs import LogFormat
from hub.rules import PolicyError
from hub.runtime import build_services
from storage.errors import StorageError

logger = logging.getLogger(__name__)


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
    app = create_app(settings, services=services)
    mismatch = issuer_mismatch(settings, port=args.port)
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
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            # httptools, with the request head bounded (32 KiB): uvicorn sets no limit.
            http=BoundedHttpToolsProtocol,
            log_level=settings.log_level.lower(),
            # main() configured logging for both formats; hub.access replaces uvicorn's log.
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
        )
    finally:
        services.close()


def add_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the hub's HTTP server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.set_defaults(func=cmd_serve)
