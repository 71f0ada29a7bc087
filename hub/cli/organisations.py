"""``ketenhub org add|list|disable|enable|import``: the chain's organisations.

The rules are :mod:`hub.organisations.service`'s, the same as the API's. Every change is one
audit event with the operator's login as the actor: ``organisation.add``, ``.update`` (a new
name), ``.disable`` and ``.enable``. Unlike the API, an operator may disable any organisation,
DTV included: the operator works on the hub's host and can enable it again.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit.events import Action
from hub.cli.console import CommandError, command_services, operator_recorder, print_table
from hub.core import db
from hub.core.cached import BOUND
from hub.directory import clients_repository as clients
from hub.directory import organisations_repository as repository
from hub.organisations import service
from hub.organisations.importing import ImportRefused, add_recorded, apply, plan, read_rows
from hub.organisations.service import about
from hub.tables.organisations import OrganisationKind


def cmd_add(args: argparse.Namespace) -> None:
    try:
        seed = service.validated(args.code, args.name, args.kind)
    except ValueError as exc:
        raise CommandError(str(exc), status=2) from None
    with command_services() as services, db.transaction(services.engine) as session:
        add_recorded(session, operator_recorder(services), seed, operator=True)
    print(f"added {seed.code} ({seed.kind.value}, enabled): {seed.name}")


def cmd_list(args: argparse.Namespace) -> None:
    with command_services() as services, db.transaction(services.engine) as session:
        organisations = repository.list_all(session)
        counts = clients.count_by_organisation(session)
        rows = [
            {
                "code": o.code,
                "name": o.name,
                "kind": str(o.kind),
                "enabled": o.enabled,
                "clients": counts.get(o.code, 0),
            }
            for o in organisations
        ]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    print_table(
        ("CODE", "KIND", "STATE", "CLIENTS", "NAME"),
        [
            (
                r["code"],
                r["kind"],
                "enabled" if r["enabled"] else "disabled",
                r["clients"],
                r["name"],
            )
            for r in rows
        ],
    )


def _set_enabled(code: str, *, enabled: bool) -> bool:
    action = Action.ORGANISATION_ENABLE if enabled else Action.ORGANISATION_DISABLE
    verb = "enabled" if enabled else "disabled"
    with command_services() as services, db.transaction(services.engine) as session:
        organisation = service.get_or_raise(session, code)
        changed = service.set_enabled(session, organisation, enabled=enabled, now=datetime.now(UTC))
        operator_recorder(services).record(
            session,
            action,
            about(organisation.code),
            organisation=organisation.code,
            detail=verb if changed else f"already {verb}",
        )
    return changed


def cmd_disable(args: argparse.Namespace) -> None:
    if not _set_enabled(args.code, enabled=False):
        print(f"{args.code} was disabled already")
        return
    print(
        f"disabled {args.code}: its clients get no new tokens, the tokens they hold stop working "
        f"within {BOUND:g} seconds, and its shares grant nothing"
    )


def cmd_enable(args: argparse.Namespace) -> None:
    if not _set_enabled(args.code, enabled=True):
        print(f"{args.code} was enabled already")
        return
    print(
        f"enabled {args.code}: its enabled clients get tokens and its shares grant again "
        "(tokens issued before it was disabled stay ended)"
    )


def cmd_import(args: argparse.Namespace) -> None:
    source = args.file
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {source}: {exc.strerror}", status=2) from None
    try:
        rows = read_rows(data, source=source)
        with command_services() as services, db.transaction(services.engine) as session:
            changes = plan(session, rows, source=source)
            if not args.dry_run:
                apply(session, operator_recorder(services), changes, operator=True)
    except ImportRefused as exc:
        for problem in exc.problems:
            print(f"ketenhub: {problem}", file=sys.stderr)
        raise CommandError(f"nothing was imported from {source}", status=2) from None
    # Printed once committed: a failed commit prints its error, never changes that did not happen.
    would = "would be " if args.dry_run else ""
    for seed in changes.add:
        print(f"{would}added    {seed.code} ({seed.kind.value}): {seed.name}")
    for rename in changes.rename:
        print(f"{would}renamed  {rename.organisation.code}: {rename.old_name!r} -> {rename.name!r}")
    disabled = [o.code for o in changes.unchanged if not o.enabled]
    if disabled:
        print(f"still disabled (an import does not enable): {', '.join(disabled)}")
    print(
        f"{len(changes.add)} {would}added, {len(changes.rename)} {would}updated, "
        f"{len(changes.unchanged)} unchanged" + (" (dry run)" if args.dry_run else "")
    )


def add_parser(commands: Any) -> None:
    org = commands.add_parser("org", help="manage the chain's organisations")
    actions = org.add_subparsers(dest="org_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add an organisation (enabled)")
    add.add_argument("--code", required=True, help="e.g. IND, or a gemeente's CBS code GM0363")
    add.add_argument("--name", required=True, help='e.g. "Gemeente Amsterdam"')
    add.add_argument("--kind", required=True, choices=[k.value for k in OrganisationKind])
    add.set_defaults(func=cmd_add)
    listing = actions.add_parser("list", help="list organisations, their state and clients")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    listing.set_defaults(func=cmd_list)
    disable = actions.add_parser(
        "disable", help="stop an organisation's clients and shares (its documents stay)"
    )
    disable.add_argument("code")
    disable.set_defaults(func=cmd_disable)
    enable = actions.add_parser("enable", help="let a disabled organisation act again")
    enable.add_argument("code")
    enable.set_defaults(func=cmd_enable)
    importing = actions.add_parser(
        "import", help="add and rename organisations from a CSV file (code,name,kind)"
    )
    importing.add_argument("file", metavar="FILE.csv")
    importing.add_argument(
        "--dry-run", action="store_true", help="check the file and print what would change"
    )
    importing.set_defaults(func=cmd_import)


__all__ = ["add_parser"]
