"""The ``ketenhub`` parser, and the entry point that runs the command it parses.

A command's module is imported only when that command runs: each imports most of the hub
(database, storage, the app for ``serve``), and ``ketenhub --help`` or a usage error should not
wait for all of it. :data:`COMMANDS` lists every command with the one line ``ketenhub --help``
shows for it; the command that ``argv`` names is built in full by its module, the others are
listed by that line alone. ``tests/hub/cli/test_cli_parser.py`` checks the lines against the
modules.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

AddParser = Callable[[Any], None]
"""A module's ``add_parser(commands)``: adds its commands to ``ketenhub``'s subparsers."""


def _init() -> AddParser:
    from hub.cli.init import add_parser  # noqa: PLC0415 - imported when its command runs

    return add_parser


def _serve() -> AddParser:
    from hub.cli.serve import add_parser  # noqa: PLC0415 - imported when its command runs

    return add_parser


def _keys() -> AddParser:
    from hub.cli.keys import add_parser  # noqa: PLC0415 - imported when its command runs

    return add_parser


def _clients() -> AddParser:
    from hub.cli.clients import add_parser  # noqa: PLC0415 - imported when its command runs

    return add_parser


def _organisations() -> AddParser:
    from hub.cli.organisations import add_parser  # noqa: PLC0415 - as above

    return add_parser


def _audit() -> AddParser:
    from hub.cli.audit import add_parser  # noqa: PLC0415 - imported when its command runs

    return add_parser


def _users() -> AddParser:
    from hub.cli.users import add_parser  # noqa: PLC0415 - imported when its command runs

    return add_parser


def _documents() -> AddParser:
    from hub.cli.documents import add_parser  # noqa: PLC0415 - imported when its command runs

    return add_parser


COMMANDS: Final[tuple[tuple[str, str, Callable[[], AddParser]], ...]] = (
    # (command, its line in `ketenhub --help`, the module that builds it), in the listed order
    ("init", "create the data dir, keys, database, organisations", _init),
    ("migrate", "upgrade the database schema", _init),
    ("serve", "run the hub's HTTP server", _serve),
    ("keys", "manage key-encryption keys", _keys),
    ("client", "manage OAuth clients (partner systems)", _clients),
    ("org", "manage the chain's organisations", _organisations),
    ("user", "manage the people who log in to the web UI", _users),
    ("audit", "verify and checkpoint the audit trail", _audit),
    ("storage", "compare the object store with the database; remove orphan objects", _documents),
    ("documents", "documents' lifecycle", _documents),
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; every command built in full, or, given ``argv``, only the one it names."""
    parser = argparse.ArgumentParser(
        prog="ketenhub", description="Ketenhub: secure document exchange for the vreemdelingenketen"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    built: set[Callable[[], AddParser]] = set()
    for name, summary, module in COMMANDS:
        if module in built:
            continue  # its module added this command together with an earlier one
        if chosen is None or any(n == chosen and m is module for n, _, m in COMMANDS):
            module()(commands)
            built.add(module)
        else:
            commands.add_parser(name, help=summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's arguments) and run the command; the exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(arguments).parse_args(arguments)
    from hub.cli.running import run  # noqa: PLC0415 - only once there is a command to run

    return run(args)
