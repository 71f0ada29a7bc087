"""The ``ketenhub-client`` command: the SDK from a shell, for people and for scripts.

Every command takes ``--json`` (one JSON document on stdout, nothing else) and ``--profile``.
Exit codes (also in ``--help``)::

    0    done
    1    usage or configuration error (a bad option, no profile, a key file others may read)
    2    the hub refused (4xx; its problem document is shown)
    3    the hub could not be reached, or kept failing (5xx), after the retries
    4    verification failed: a receipt, a proof or a downloaded file's digest
    130  interrupted (Ctrl-C); the same command run again goes on where it stopped

A v-number is never an argument (``ps`` and shell history would show it): it comes from
``--v-number-file FILE``, ``--v-number-file -`` (standard input), or a prompt on a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, NoReturn

from ketenhub_client import commands
from ketenhub_client._version import __version__
from ketenhub_client.errors import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ConfigError,
    KetenhubClientError,
)
from ketenhub_client.output import Output

EPILOG = """\
exit codes:
  0    done
  1    usage or configuration error
  2    the hub refused the request (4xx)
  3    the hub could not be reached or kept failing (network, 5xx), after retries
  4    verification failed (a receipt, a proof, a download's SHA-256)
  130  interrupted (Ctrl-C); run the same command again to go on where it stopped

settings: a profile written by `ketenhub-client configure`, overridden by the environment
(KETENHUB_CLIENT_HUB, KETENHUB_CLIENT_ID, KETENHUB_CLIENT_KEY_FILE).
v-numbers are never arguments: --v-number-file FILE, --v-number-file - (stdin), or a prompt.
"""

_V_NUMBER = re.compile(r"^[0-9]{10}$")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1 (2 means "the hub refused" here)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def read_v_number(source: str | None, *, stdin: IO[str] | None = None) -> str:
    """The v-number from ``source`` (a file, ``-`` for stdin) or a prompt on a terminal."""
    stdin = stdin or sys.stdin
    if source == "-":
        text = stdin.readline()
    elif source:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the v-number file {source}: {exc.strerror}") from exc
    elif stdin.isatty():
        text = getpass.getpass("v-number (vreemdelingennummer): ")
    else:
        raise ConfigError("give the v-number with --v-number-file FILE, or - for standard input")
    value = text.strip()
    if not _V_NUMBER.fullmatch(value):
        # The value itself is not repeated: it is personal data, and may be in a log.
        raise ConfigError("a v-number is exactly 10 digits; what was given is not")
    return value


def expiry(until: str | None, days: int | None, *, now: datetime | None = None) -> datetime:
    """When a share ends: ``--days N`` from now, or ``--until`` (RFC 3339, or a date: its end
    in local time)."""
    now = now or datetime.now(UTC)
    if days is not None:
        if days < 1:
            raise ConfigError("--days must be at least 1")
        return now + timedelta(days=days)
    if not until:
        raise ConfigError("say until when: --until DATE or --days N")
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", until):
            day = datetime.fromisoformat(until).astimezone()
            return day.replace(hour=23, minute=59, second=59)
        moment = datetime.fromisoformat(until)
    except ValueError as exc:
        raise ConfigError(f"--until {until!r} is neither a date nor an RFC 3339 time") from exc
    if moment.tzinfo is None:
        raise ConfigError("--until needs a time zone offset (or give only a date)")
    return moment


def _common(*, json_default: Any) -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=json_default, help="print one JSON document"
    )
    common.add_argument("--profile", default=argparse.SUPPRESS, help="the profile to use")
    return common


class _Commands:
    """Adds subcommands, each with the common options and the exit codes in its help."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
        self.common = _common(json_default=argparse.SUPPRESS)

    def add(self, name: str, run: Callable[..., int], text: str) -> argparse.ArgumentParser:
        found = self.sub.add_parser(
            name,
            help=text,
            description=text,
            parents=[self.common],
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        found.set_defaults(run=run)
        return found


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ketenhub-client",
        description="Exchange documents with a Ketenhub hub as a partner system.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(json_default=False)],
    )
    parser.add_argument("--version", action="version", version=f"ketenhub-client {__version__}")
    parser.set_defaults(profile=None)
    added = _Commands(parser)
    _configure_command(added)
    _document_commands(added)
    _share_commands(added)
    _feed_commands(added)
    _receipt_commands(added)
    return parser


def _configure_command(added: _Commands) -> None:
    configure = added.add("configure", commands.configure, "write a profile: hub, client, key")
    configure.add_argument("--hub", help="the hub's base URL (https://…)")
    configure.add_argument("--client-id", help="this system's OAuth client id")
    configure.add_argument("--key-file", type=Path, help="the private JWK (mode 600)")
    configure.add_argument(
        "--no-check", dest="check", action="store_false", help="do not fetch a token to check"
    )


def _document_commands(added: _Commands) -> None:
    upload = added.add("upload", commands.upload, "upload a file (resumable), print its receipt")
    upload.add_argument("file", type=Path)
    upload.add_argument("--type", required=True, dest="document_type", help="the document type")
    _v_number_option(upload)
    upload.add_argument("--title")
    upload.add_argument("--receipt-file", type=Path, help="also write the receipt (JSON) here")
    upload.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="do not verify the receipt against the log",
    )

    download = added.add("download", commands.download, "download a document, resuming a break")
    download.add_argument("document_id", metavar="ID")
    download.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    download.add_argument("--force", action="store_true", help="replace FILE if it exists")
    download.add_argument("--receipt-file", type=Path, help="also write the receipts (JSON) here")
    download.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="do not verify the receipts against the log",
    )

    listing = added.add("list", commands.list_documents, "the documents this client may see")
    listing.add_argument("--type", dest="document_type")
    _paging(listing)

    search = added.add("search", commands.search, "one person's documents (by v-number)")
    _v_number_option(search)
    search.add_argument("--type", dest="document_type")
    _paging(search)


def _share_commands(added: _Commands) -> None:
    share = added.add("share", commands.share, "share a document, or a case, with an organisation")
    what = share.add_mutually_exclusive_group(required=True)
    what.add_argument("--document", dest="document_id", metavar="ID", help="one document")
    what.add_argument(
        "--case",
        action="store_true",
        help="a person's documents of --types (v-number as for upload)",
    )
    share.add_argument("--types", help="for --case: document types, comma-separated")
    _v_number_option(share)
    share.add_argument("--to", required=True, dest="grantee", metavar="ORG", help="e.g. GM0363")
    share.add_argument("--purpose", required=True, help="a processing-activity code")
    ending = share.add_mutually_exclusive_group(required=True)
    ending.add_argument("--until", help="a date (its end) or an RFC 3339 time")
    ending.add_argument("--days", type=int)

    revoke = added.add("revoke", commands.revoke, "revoke a share")
    revoke.add_argument("share_id", metavar="SHARE_ID")

    shares = added.add(
        "shares", commands.shares, "the shares this client's organisation made or got"
    )
    _paging(shares)


def _feed_commands(added: _Commands) -> None:
    inbox = added.add("inbox", commands.inbox, "what became visible to this client, in order")
    inbox.add_argument("--cursor", help="where the last run stopped (its next_cursor)")
    inbox.add_argument("--limit", type=int, default=50)

    webhooks = added.add("webhooks", commands.webhooks_list, "manage webhook subscriptions")
    actions = webhooks.add_subparsers(dest="action", parser_class=_Parser)
    add = actions.add_parser("add", help="subscribe a URL", parents=[added.common])
    add.add_argument("url")
    add.add_argument(
        "--event",
        action="append",
        dest="events",
        metavar="TYPE",
        help="share.received, share.revoked, share.expiring, document.added",
    )
    add.set_defaults(run=commands.webhooks_add)
    listing = actions.add_parser("list", help="the subscriptions", parents=[added.common])
    listing.set_defaults(run=commands.webhooks_list)
    remove = actions.add_parser("remove", help="end a subscription", parents=[added.common])
    remove.add_argument("webhook_id", metavar="ID")
    remove.set_defaults(run=commands.webhooks_remove)
    deliveries = actions.add_parser(
        "deliveries", help="a subscription's deliveries", parents=[added.common]
    )
    deliveries.add_argument("webhook_id", metavar="ID")
    deliveries.add_argument("--limit", type=int, default=50)
    deliveries.add_argument("--cursor")
    deliveries.set_defaults(run=commands.webhooks_deliveries)


def _receipt_commands(added: _Commands) -> None:
    receipt = added.add("receipt", commands.receipt_verify, "receipts: verify one")
    actions = receipt.add_subparsers(dest="action", required=True, parser_class=_Parser)
    verify = actions.add_parser(
        "verify",
        parents=[added.common],
        help="check a receipt: signature, inclusion in the log, consistency with what was seen",
    )
    verify.add_argument(
        "source",
        nargs="?",
        default="-",
        metavar="FILE|-",
        help="the receipt, or an upload's/download's --json output (- = stdin)",
    )
    verify.add_argument(
        "--file",
        dest="content",
        type=Path,
        metavar="CONTENT",
        help="the file the receipt is about: its SHA-256 and size must be the event's",
    )
    verify.add_argument(
        "--accept-new-key",
        action="store_true",
        help="pin an audit key the hub signs with that this client has not seen (ask first)",
    )
    verify.set_defaults(run=commands.receipt_verify)


def _v_number_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--v-number-file",
        metavar="FILE",
        help="a file holding the v-number, or - for standard input (else a prompt)",
    )


def _paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--cursor")
    parser.add_argument("--all", action="store_true", help="every page")


def main(argv: Sequence[str] | None = None) -> int:
    """The console script; returns (and exits with) the exit code."""
    arguments = build_parser().parse_args(argv)
    output = Output(json_mode=bool(arguments.json))
    try:
        code: int = arguments.run(arguments, output)
    except KeyboardInterrupt:
        output.error(
            "interrupted; run the same command again to go on where it stopped",
            {"error": "Interrupted", "exit_code": EXIT_INTERRUPTED},
        )
        code = EXIT_INTERRUPTED
    except KetenhubClientError as exc:
        output.error(str(exc), exc.as_json())
        code = exc.exit_code
    except (ValueError, OSError) as exc:
        output.error(
            str(exc), {"error": type(exc).__name__, "message": str(exc), "exit_code": EXIT_USAGE}
        )
        code = EXIT_USAGE
    return code
