"""``ketenhub storage check|sweep`` and ``ketenhub documents expire``.

The vault writes an object before its row commits and deletes a shredded document's object only
after the shred commits (:mod:`hub.vault.service`). A crash in either window leaves an *orphan*:
an object no live row needs (no row, or a shredded row's). Orphans are unreadable, so harmless,
but take space. A live row whose object is gone is data loss. ``check`` reports both and exits 0
when the two agree, 0 with a warning on stderr when there are only orphans, and 1 when any live
row has no object (an unreachable store or database is also 1, with its own message; a usage
error is 2). ``sweep`` removes orphans.

Scale: a store lists whole and in no order (``iter_objects``), so no merge join is possible.
``check`` holds the object keys of live rows as 16-byte values in a set (~85 MB per million
rows) and streams the listing against it; objects not in the set are looked up in batches, which
also finds rows committed since the set was loaded. Above :data:`KEYS_PER_PASS` live rows the key
space is cut into equal ranges, one set and one listing per range: bounded memory, at the cost
of one listing per range. Unmatched rows are looked up again before they are reported, so a
document shredded during the check is not called lost.

``sweep`` streams the listing and looks up each batch of keys: memory is one batch. An object
without a row is deleted only when older than the grace period, since an upload in flight has
written its object but not yet committed its row (on S3 an object's age counts from the start of
its upload: the grace must exceed the longest upload). A shredded row's object is deleted at
any age: nothing can make it readable again. The sweep prints every object it removes and
records one ``storage.sweep`` event with the counts.

``documents expire`` runs :func:`hub.documents.retention.expire_due` now, as every replica's
retention timer does; that records a ``document.shred`` event per document.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.events import Action
from hub.cli.console import CommandError, load_settings, operator_recorder
from hub.documents.consistency import (
    BATCH,
    DEFAULT_GRACE,
    KEYS_PER_PASS,
    MAX_GRACE,
    Consistency,
    IncompleteSweeper,
    MissingObject,
    Orphan,
    check_store,
    count_live_rows,
    iter_orphans,
    key_ranges,
    live_keys,
    shredded_by_key,
    still_live,
)
from hub.documents.retention import expire_due
from hub.runtime import Services, build_services
from hub.trail.context import Context
from hub.trail.recorder import About

__all__ = [
    "BATCH",
    "KEYS_PER_PASS",
    "Consistency",
    "MissingObject",
    "Orphan",
    "add_parser",
    "check_store",
    "count_live_rows",
    "iter_orphans",
    "key_ranges",
    "live_keys",
    "shredded_by_key",
    "still_live",
]


# -- printing ---------------------------------------------------------------------------------


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    amount = count / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"


def _age(then: datetime, now: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


def _describe(orphan: Orphan, now: datetime) -> str:
    whose = "of a shredded document" if orphan.shredded else "without a row"
    return (
        f"{orphan.info.key}  {_size(orphan.info.size):>10}  "
        f"written {_age(orphan.info.modified, now)} ago  {whose}"
    )


def _print_report(report: Consistency, now: datetime) -> None:
    print(f"objects      {report.objects} ({_size(report.object_bytes)})")
    print(f"live rows    {report.live_rows}")
    if report.passes > 1:
        print(f"listed the store {report.passes} times, {KEYS_PER_PASS} rows at a time")
    print(f"rows without objects: {report.missing}")
    for row in report.missing_samples:
        print(
            f"  document {row.document_id} version {row.version}: object {row.object_key} "
            f"missing (row written {row.created_at:%Y-%m-%dT%H:%M:%SZ}, "
            f"{_age(row.created_at, now)} ago)"
        )
    if report.missing > len(report.missing_samples):
        print(f"  … and {report.missing - len(report.missing_samples)} more")
    oldest = (
        f"; oldest written {_age(report.oldest_orphan, now)} ago" if report.oldest_orphan else ""
    )
    print(f"objects without rows: {report.orphans} ({_size(report.orphan_bytes)}{oldest})")
    for orphan in report.orphan_samples:
        print(f"  {_describe(orphan, now)}")
    if report.orphans > len(report.orphan_samples):
        print(f"  … and {report.orphans - len(report.orphan_samples)} more")


# -- commands ---------------------------------------------------------------------------------


def _services() -> Services:
    return build_services(load_settings())


def cmd_check(_args: argparse.Namespace) -> None:
    services = _services()
    try:
        now = datetime.now(UTC)
        report = check_store(services.engine, services.store)
    finally:
        services.close()
    _print_report(report, now)
    if report.missing:
        raise CommandError(
            f"{report.missing} rows without objects: those documents cannot be read any more; "
            "restore their objects from a backup of the store",
            status=1,
        )
    if report.orphans:
        print(
            f"ketenhub: warning: {report.orphans} objects without rows; they are unreadable and "
            "harmless, and `ketenhub storage sweep` removes those older than its grace period",
            file=sys.stderr,
        )
        return
    print("the object store and the database are consistent")


def cmd_sweep(args: argparse.Namespace) -> None:
    grace = timedelta(seconds=args.grace)
    verb = "would remove" if args.dry_run else "removed"
    removed = removed_bytes = kept = 0
    incomplete: int | None = None
    services = _services()
    try:
        now = datetime.now(UTC)
        cutoff = now - grace
        store = services.store
        for orphan in iter_orphans(services.engine, store):
            # An object without a row may be an upload whose row is about to be committed.
            if not orphan.shredded and orphan.info.modified >= cutoff:
                kept += 1
                continue
            if not args.dry_run:
                store.delete(orphan.info.key)
            removed += 1
            removed_bytes += orphan.info.size
            print(f"{verb} {_describe(orphan, now)}")
        if not args.dry_run and isinstance(store, IncompleteSweeper):
            incomplete = store.sweep_incomplete(older_than=grace, now=now)
        if not args.dry_run:
            operator_recorder(services).record_alone(
                Action.STORAGE_SWEEP,
                About("object_store"),
                detail=f"removed {removed} orphan objects, {incomplete or 0} incomplete "
                f"writes; kept {kept} younger than {args.grace:g} s",
            )
    finally:
        services.close()
    print(f"{verb} {removed} orphan objects ({_size(removed_bytes)})")
    if kept:
        print(
            f"kept {kept} objects without rows written less than {args.grace:g} s ago: "
            "their uploads may still be committing"
        )
    if incomplete is not None:
        print(f"removed {incomplete} incomplete writes older than {args.grace:g} s")
    elif args.dry_run:
        print("incomplete writes are not looked at in a dry run")


def cmd_expire(_args: argparse.Namespace) -> None:
    services = _services()
    try:
        shredded = expire_due(services, Context.operator())
    finally:
        services.close()
    print(f"shredded {shredded} documents whose retention had ended")


def _grace(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= seconds <= MAX_GRACE:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_GRACE:g} seconds")
    return seconds


def add_parser(commands: Any) -> None:
    storage = commands.add_parser(
        "storage", help="compare the object store with the database; remove orphan objects"
    )
    actions = storage.add_subparsers(dest="storage_command", required=True, metavar="ACTION")
    actions.add_parser(
        "check", help="report rows without objects (exit 1) and objects without rows"
    ).set_defaults(func=cmd_check)
    sweep = actions.add_parser(
        "sweep", help="delete objects without a live row, and abandoned incomplete writes"
    )
    sweep.add_argument(
        "--grace",
        type=_grace,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help="leave objects without a row younger than this, as uploads in flight "
        f"(default {DEFAULT_GRACE:g}; must exceed the longest upload)",
    )
    sweep.add_argument(
        "--dry-run", action="store_true", help="print what would be removed; remove nothing"
    )
    sweep.set_defaults(func=cmd_sweep)

    documents = commands.add_parser("documents", help="documents' lifecycle")
    document_actions = documents.add_subparsers(
        dest="documents_command", required=True, metavar="ACTION"
    )
    document_actions.add_parser(
        "expire", help="crypto-shred every document whose retention has ended, now"
    ).set_defaults(func=cmd_expire)


__all__ = [
    "Consistency",
    "MissingObject",
    "Orphan",
    "add_parser",
    "check_store",
    "iter_orphans",
]
