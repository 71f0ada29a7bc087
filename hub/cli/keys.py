"""``ketenhub keys``: the operator's view of the key custodian (:mod:`hub.keys`).

Each command is one call of :class:`~hub.keys.custodian.KeyCustodian` in one transaction, which
also holds the operator's audit record; this module only prints what it answers.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from hub.cli.console import CommandError, command_services, operator_recorder
from hub.core import db
from hub.keys.custodian import RetireRefused


def cmd_list(_args: argparse.Namespace) -> None:
    with command_services() as services:
        with db.transaction(services.engine) as session:
            inventory = services.custodian.inventory(session)
        print(f"{'KEK id':<24} {'created':<26} {'wraps':>10} {'live keys':>10}")
        for usage in inventory:
            kek = usage.kek
            marker = "  (current)" if kek.current else ""
            print(
                f"{kek.kek_id:<24} {kek.created_at.isoformat(timespec='seconds'):<26} "
                f"{usage.wraps:>10} {usage.data_keys:>10}{marker}"
            )
        print(f"wrap limit per KEK: {services.keys.wrap_limit}")


def cmd_rotate(args: argparse.Namespace) -> None:
    with command_services() as services, db.transaction(services.engine) as session:
        custodian, record_as_operator = services.custodian, operator_recorder(services)
        if args.signing:
            key = custodian.rotate_signing_key(session, recorder=record_as_operator)
            print(f"rotated: tokens are now signed with {key.kid} ({key.alg})")
            print("the previous key stays published until tokens it signed have expired")
        elif args.audit:
            verifier = custodian.rotate_audit_key(session, recorder=record_as_operator)
            print(f"rotated: checkpoints and receipts are now signed by {verifier.encoded()}")
            print("earlier audit keys stay published for what they signed")
        elif args.sessions:
            key_id = custodian.rotate_session_key(session, recorder=record_as_operator)
            print(f"rotated: web-session data is now encrypted under {key_id}")
            print("sessions under the previous key stay readable until they end")
        else:
            old, new = custodian.rotate_kek(session, recorder=record_as_operator)
            print(f"rotated: new data keys now use {new} (was {old})")
            print("existing data keys keep their KEK; `ketenhub keys rewrap` moves them")


def cmd_rewrap(args: argparse.Namespace) -> None:
    with command_services() as services:
        with db.transaction(services.engine) as session:
            moved = services.custodian.rewrap(
                session, recorder=operator_recorder(services), batch_size=args.batch_size
            )
        counts = [f"{moved.data_keys} data keys"]
        counts += [f"{count} {noun}" for noun, count in moved.secrets.items()]
        print(f"re-wrapped {_enumerate(counts)} under {moved.kek_id}")


def _enumerate(items: Sequence[str]) -> str:
    """``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def cmd_retire(args: argparse.Namespace) -> None:
    with command_services() as services:
        try:
            with db.transaction(services.engine) as session:
                services.custodian.retire(
                    session, args.kek_id, recorder=operator_recorder(services)
                )
        except RetireRefused as exc:
            raise CommandError(str(exc)) from None
        print(f"retired {args.kek_id}: its key material is destroyed")


def add_parser(commands: Any) -> None:
    keys = commands.add_parser("keys", help="manage key-encryption keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    key_commands.add_parser("list", help="list KEKs with their usage").set_defaults(func=cmd_list)
    rotate = key_commands.add_parser("rotate", help="start using a new KEK (or signing key)")
    which = rotate.add_mutually_exclusive_group()
    which.add_argument(
        "--signing", action="store_true", help="rotate the access-token signing key instead"
    )
    which.add_argument(
        "--audit", action="store_true", help="rotate the audit checkpoint key instead"
    )
    which.add_argument("--sessions", action="store_true", help="rotate the web-session key instead")
    rotate.set_defaults(func=cmd_rotate)
    rewrap = key_commands.add_parser("rewrap", help="move every data key to the current KEK")
    rewrap.add_argument("--batch-size", type=int, default=500)
    rewrap.set_defaults(func=cmd_rewrap)
    retire = key_commands.add_parser("retire", help="destroy a KEK no data key needs")
    retire.add_argument("kek_id")
    retire.set_defaults(func=cmd_retire)
