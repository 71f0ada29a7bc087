"""``ketenhub audit verify`` and ``ketenhub audit checkpoint``.

``verify`` exits 0 when the trail is intact, 1 naming the first bad ``seq`` when it is not, and
2 when it cannot run: no such database, or a checkpoint file that is not a checkpoint signed
by this log's key (a bad file says nothing about the trail, so it is never reported as damage
to it). It trusts only audit keys it can unseal with the master key, so it runs where the
hub's key file is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Final

from sqlmodel import Session

from audit.events import Action
from audit.verify import Report, WitnessError, verify_log
from hub.cli.console import CommandError, load_settings, operator_recorder
from hub.core import db
from hub.runtime import Services, build_services
from hub.trail.recorder import About

MAX_CHECKPOINT_FILE: Final = 64 * 1024
_SHOWN: Final = 20


def _services() -> Services:
    return build_services(load_settings())


def _read_checkpoint(path: str) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read checkpoint {path}: {exc.strerror}", status=2) from None
    if len(raw) > MAX_CHECKPOINT_FILE:
        raise CommandError(f"{path} is too large to be a checkpoint", status=2)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not UTF-8 text, so not a checkpoint", status=2) from None


def cmd_verify(args: argparse.Namespace) -> None:
    witness = _read_checkpoint(args.checkpoint) if args.checkpoint else None
    services = _services()
    try:
        with db.snapshot(services.engine) as connection:
            verifiers = services.audit.keys.load(Session(bind=connection)).verifiers
            try:
                report = verify_log(connection, verifiers, witness=witness)
            except WitnessError as exc:
                raise CommandError(
                    f"the checkpoint file {args.checkpoint} is not a valid checkpoint signed by "
                    f"this log's key: {exc}",
                    status=2,
                ) from None
        unrecorded = _record(services, report)
    finally:
        services.close()
    _print(report)
    if unrecorded:
        print(f"this verification could not be recorded: {unrecorded}", file=sys.stderr)
    if not report.intact:
        raise CommandError(
            f"audit trail NOT intact: first bad seq {report.first_bad_seq}", status=1
        )


def _record(services: Services, report: Report) -> str | None:
    """Record the verification; returns why it could not be, when the damage found prevents
    appending (tree nodes the next append needs are gone), so that the report is still shown.
    """
    # Recorded after the check, so that verifying never changes what it verifies.
    try:
        operator_recorder(services).record_alone(
            Action.AUDIT_QUERY,
            About("audit_log", str(report.events)),
            detail="verify: intact"
            if report.intact
            else f"verify: first bad seq {report.first_bad_seq}",
        )
    except LookupError as exc:
        if report.intact:
            raise  # an intact log can always be appended to: this is a bug, not damage
        return str(exc)
    return None


def _print(report: Report) -> None:
    print(f"events       {report.events}")
    print(f"tree nodes   {report.nodes}")
    print(f"checkpoints  {report.checkpoints}")
    if report.witness_size is not None:
        print(f"your checkpoint of size {report.witness_size} checked")
    if report.intact:
        print("audit trail intact")
        return
    for problem in report.problems[:_SHOWN]:
        print(f"seq {problem.seq}: {problem.message}", file=sys.stderr)
    if len(report.problems) > _SHOWN:
        print(f"… and {len(report.problems) - _SHOWN} more problems", file=sys.stderr)


def cmd_checkpoint(_args: argparse.Namespace) -> None:
    services = _services()
    try:
        signed = services.audit.checkpoint_now()
        where = services.audit.export.describe() if services.audit.export else "nowhere"
    finally:
        services.close()
    if signed is None:
        print("the audit log is empty: nothing to checkpoint")
        return
    print(f"checkpoint of size {signed.tree_size}, signed {signed.signed_at}, exported to {where}")
    print(signed.note, end="")


def add_parser(commands: Any) -> None:
    audit = commands.add_parser("audit", help="verify and checkpoint the audit trail")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify", help="recompute every leaf, the tree and every checkpoint; exit 1 if broken"
    )
    verify.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="also check against a signed checkpoint kept outside the database (a witness's)",
    )
    verify.set_defaults(func=cmd_verify)
    actions.add_parser("checkpoint", help="sign and export a checkpoint now").set_defaults(
        func=cmd_checkpoint
    )


__all__ = ["add_parser"]
