"""Running one parsed ``ketenhub`` command: logging first, then the command, and every failure
as one line on stderr with its exit status (1 operational, 2 usage or configuration)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from sqlalchemy.exc import SQLAlchemyError

from hub.cli.console import CommandError, load_logging_settings
from hub.core import db
from hub.core.errors import HubError
from hub.observability.logs import configure_logging
from storage.errors import KeyFileInsecure, StorageError


def storage_status(exc: StorageError) -> int:
    # A key file open to others (or writable, in production) is configuration, not a failure.
    return 2 if isinstance(exc, KeyFileInsecure) else 1


def run(args: argparse.Namespace) -> int:  # noqa: PLR0911 - an exit status per failure
    """Run ``args.func(args)``; returns the exit status."""
    # Everything the hub creates (database files, objects, keys) is for its own user only.
    os.umask(0o077)
    try:
        # First: a bad KETENHUB_LOG_LEVEL is one line like any other setting, not a traceback.
        configure_logging(load_logging_settings())
        if args.command not in {"init", "migrate"}:
            # Alembic narrates every revision check; only the commands that migrate should talk.
            logging.getLogger("alembic").setLevel(logging.WARNING)
        args.func(args)
    except HubError as exc:
        print(f"ketenhub: {exc.message}", file=sys.stderr)
        return 2 if exc.status_code < 500 else 1
    except CommandError as exc:
        print(f"ketenhub: {exc}", file=sys.stderr)
        return exc.status
    except db.DatabaseNotFound as exc:
        print(f"ketenhub: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"ketenhub: {type(exc).__name__}: {exc}", file=sys.stderr)
        return storage_status(exc)
    except SQLAlchemyError as exc:
        # SQLAlchemy's own text repeats the statement and its parameters; the driver's first
        # line says what went wrong (refused, unknown database) without them.
        origin = getattr(exc, "orig", None) or exc
        reason = str(origin).strip().splitlines()[0] if str(origin).strip() else ""
        print(f"ketenhub: database error: {type(origin).__name__}: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`ketenhub org list | head`): stop quietly, and keep the
        # interpreter from failing again when it flushes stdout on exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0
