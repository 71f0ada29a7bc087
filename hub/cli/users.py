"""``ketenhub user add|list|disable|enable|reset-password|reset-factor|unlock|roles``: the people
who log in to the web UI.

Each change is one call of :class:`~hub.accounts.service.Accounts` in one transaction, recorded in
the audit trail with the operator's login as the actor. ``add`` and ``reset-password`` print a
one-time link (``<issuer>/account/activate/<token>``, ``<issuer>/account/reset/<token>``) once:
the hub keeps only its hash, so it cannot be shown again; hand it to the person.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from auth.people import Role
from hub.accounts.service import ACTIVATE, RESET, UserSummary, one_time_link
from hub.cli.console import command_services, load_settings, print_table
from hub.core import db
from hub.core.cached import BOUND
from hub.trail.context import Context

_OVERSIGHT_PURPOSE = "verantwoording"
_CASEWORK_PURPOSE = "opvang"


def cmd_add(args: argparse.Namespace) -> None:
    settings = load_settings()
    roles = [Role(role) for role in args.role]
    purpose = args.purpose or (
        _CASEWORK_PURPOSE if Role.CASEWORKER in roles else _OVERSIGHT_PURPOSE
    )
    with command_services(settings) as services, db.transaction(services.engine) as session:
        new = services.accounts.add_user(
            session,
            organisation=args.org,
            username=args.username,
            roles=roles,
            processing_activity=purpose,
            context=Context.operator(),
        )
    person = new.person
    print(f"user_id       {person.user_id}")
    print(f"username      {person.username}")
    print(f"organisation  {person.organisation}")
    print(f"roles         {' '.join(sorted(person.roles))}")
    print(f"purpose       {person.processing_activity}")
    print("activation    (shown once; the person sets a password there, then enrols a factor)")
    print(one_time_link(settings.issuer, ACTIVATE, new.link_token))


def _row(summary: UserSummary) -> dict[str, Any]:
    person = summary.person
    return {
        "username": person.username,
        "organisation": person.organisation,
        "roles": sorted(person.roles),
        "purpose": person.processing_activity,
        "state": summary.state,
        "user_id": person.user_id,
    }


def cmd_list(args: argparse.Namespace) -> None:
    with command_services() as services, db.transaction(services.engine) as session:
        rows = [_row(s) for s in services.accounts.list_users(session, organisation=args.org)]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    print_table(
        ("USERNAME", "ORG", "STATE", "ROLES", "PURPOSE", "USER_ID"),
        [
            (
                r["username"],
                r["organisation"],
                r["state"],
                " ".join(r["roles"]),
                r["purpose"],
                r["user_id"],
            )
            for r in rows
        ],
    )


def cmd_disable(args: argparse.Namespace) -> None:
    with command_services() as services, db.transaction(services.engine) as session:
        person = services.accounts.disable_user(
            session, username=args.username, context=Context.operator()
        )
    print(
        f"disabled {person.username}: they cannot log in, and their sessions stop working "
        f"within {BOUND:g} seconds"
    )


def cmd_enable(args: argparse.Namespace) -> None:
    with command_services() as services, db.transaction(services.engine) as session:
        person = services.accounts.enable_user(
            session, username=args.username, context=Context.operator()
        )
    print(f"enabled {person.username}: they can log in again")


def cmd_reset_password(args: argparse.Namespace) -> None:
    settings = load_settings()
    with command_services(settings) as services, db.transaction(services.engine) as session:
        token = services.accounts.reset_password(
            session, username=args.username, context=Context.operator()
        )
    print(
        f"reset the password of {args.username.strip().lower()}: the old one no longer works "
        "and their sessions end; the reset link (shown once; valid for a day):"
    )
    print(one_time_link(settings.issuer, RESET, token))


def cmd_reset_factor(args: argparse.Namespace) -> None:
    with command_services() as services, db.transaction(services.engine) as session:
        person = services.accounts.reset_factor(
            session, username=args.username, context=Context.operator()
        )
    print(
        f"reset the second factor of {person.username}: their recovery codes are void, their "
        "sessions end, and they enrol a new factor at their next login"
    )


def cmd_unlock(args: argparse.Namespace) -> None:
    with command_services() as services, db.transaction(services.engine) as session:
        person = services.accounts.unlock(
            session, username=args.username, context=Context.operator()
        )
    print(f"unlocked {person.username}: their failed logins are forgotten")


def cmd_roles(args: argparse.Namespace) -> None:
    with command_services() as services, db.transaction(services.engine) as session:
        person = services.accounts.change_roles(
            session,
            username=args.username,
            roles=[Role(role) for role in args.role],
            context=Context.operator(),
        )
    print(
        f"{person.username} now has the roles {' '.join(sorted(person.roles))}: their sessions "
        "end, and their next login carries the new roles"
    )


def _role_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--role",
        required=True,
        action="append",
        choices=[role.value for role in Role],
        help="repeat for more; a caseworker is never also an auditor or admin",
    )


def add_parser(commands: Any) -> None:
    user = commands.add_parser("user", help="manage the people who log in to the web UI")
    actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a person; prints their one-time activation link")
    add.add_argument("--org", required=True, help="organisation code, e.g. GM0363")
    add.add_argument("--username", required=True, help="3-64 of a-z 0-9 . _ -, never renamed")
    _role_argument(add)
    add.add_argument(
        "--purpose",
        help=f"processing activity code (default: {_CASEWORK_PURPOSE} for caseworkers, "
        f"{_OVERSIGHT_PURPOSE} for auditors and admins)",
    )
    add.set_defaults(func=cmd_add)
    listing = actions.add_parser("list", help="list people and their state")
    listing.add_argument("--org", help="only this organisation's")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    listing.set_defaults(func=cmd_list)
    for name, func, summary in (
        ("disable", cmd_disable, "stop a person logging in; their sessions end"),
        ("enable", cmd_enable, "let a disabled person log in again"),
        ("reset-password", cmd_reset_password, "clear the password; prints a reset link"),
        ("reset-factor", cmd_reset_factor, "remove the second factor and recovery codes"),
        ("unlock", cmd_unlock, "lift the lock after too many failed logins"),
    ):
        action = actions.add_parser(name, help=summary)
        action.add_argument("username")
        action.set_defaults(func=func)
    roles = actions.add_parser("roles", help="give a person other roles; their sessions end")
    roles.add_argument("username")
    _role_argument(roles)
    roles.set_defaults(func=cmd_roles)


__all__ = ["add_parser"]
