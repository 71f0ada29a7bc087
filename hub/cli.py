"""The ``ketenhub`` command line.

::

    ketenhub init [--demo]          data dir, key ring, migrated database, organisations, keys,
                                    the policy file (demo or starter) if missing
    ketenhub migrate                upgrade the database schema only (run as the owner role)
    ketenhub serve [--host H] [--port P]
    ketenhub keys list              key-encryption keys, which is current, wraps and live keys
    ketenhub keys rotate            new KEK for new data keys; old ones keep working
    ketenhub keys rewrap            move every live data key to the current KEK
    ketenhub keys retire KEK_ID     destroy a KEK that no live data key needs any more
    ketenhub keys rotate --signing|--audit   new token signing key, or audit checkpoint key
    ketenhub client add|list|disable|enable  partner systems (OAuth clients)
    ketenhub org add|list|disable|enable|import   organisations (gemeenten by CBS code)
    ketenhub audit verify [--checkpoint FILE]   recompute and check the whole audit trail
    ketenhub audit checkpoint       sign (and export) a checkpoint of the log now
    ketenhub storage check          rows without objects (data loss), objects without rows
    ketenhub storage sweep [--grace S] [--dry-run]   remove orphan objects and stale writes
    ketenhub documents expire       crypto-shred documents whose retention has ended

Every command reads its configuration from ``KETENHUB_*`` variables (see the README). Errors
are one line on stderr and a non-zero exit status, never a traceback: exit 1 for an operational
failure, 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from audit.events import Action
from hub import db, production
from hub.audit import commands as audit_commands
from hub.audit.context import Context
from hub.audit.keys import AuditKeys
from hub.clients import commands as clients_commands
from hub.clients.demo import DEMO_CLIENTS, ensure_demo_clients
from hub.config import Settings
from hub.console import CommandError, load_logging_settings, load_settings, record
from hub.documents import commands as documents_commands
from hub.errors import HubError
from hub.oauth.service import KeyRingSealer, live_signing_keys_under, reseal_signing_keys
from hub.observability import preflight
from hub.observability.logs import configure_logging
from hub.organisations import commands as organisations_commands
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN, ensure_organisations
from hub.policy import PolicyError
from hub.policy.install import install_policy
from hub.services import Services, activate_policy, build_services, open_key_ring
from hub.subjects.keys import SubjectKeys
from hub.vault import repository as vault_repository
from hub.vault import service as vault_service
from storage.errors import KeyFileInsecure, KeyFileMissing, StorageError
from storage.keys import LocalKeyRing

logger = logging.getLogger("ketenhub")


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


# -- init / migrate -----------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> None:
    settings = load_settings()
    if args.demo and settings.is_production:
        raise CommandError(
            "refusing to load demo data in production; set KETENHUB_ENVIRONMENT=demo", status=2
        )
    production.check_migration(settings)
    _ensure_private_dir(settings.data_dir)
    key_file = settings.resolved_key_file
    try:
        ring = open_key_ring(settings)
        print(f"key ring      {key_file} (exists; current KEK {ring.current_kek_id()})")
    except KeyFileMissing:
        ring = LocalKeyRing.create(key_file, allow_writable=not settings.is_production)
        print(f"key ring      {key_file} (created; KEK {ring.current_kek_id()})")

    services = build_services(settings, create_database=True)
    try:
        role = _migrate(settings)
        print(f"database      migrated to {db.head_revision()}")
        if role is not None:
            print(f"database      {_GRANTED.format(role=role)}")
        seeds = CHAIN + (DEMO_GEMEENTEN if args.demo else ())
        with db.transaction(services.engine) as session:
            created = ensure_organisations(session, seeds)
        print(f"organisations {len(seeds)} ({len(created)} new)")
        with db.transaction(services.engine) as session:
            new_key = services.oauth.signing.ensure(session)
        print(f"signing key   {'created ' + new_key.kid if new_key else 'exists'}")
        with db.transaction(services.engine) as session:
            audit_keys = services.audit.keys.ensure(session)
        print(f"audit keys    {'created ' + ', '.join(audit_keys) if audit_keys else 'exist'}")
        _init_policy(services, demo=args.demo)
        if args.demo:
            credentials = settings.data_dir / "demo-credentials.json"
            with db.transaction(services.engine) as session:
                issued = ensure_demo_clients(
                    session,
                    credentials,
                    on_added=lambda client: record(
                        services,
                        session,
                        Action.CLIENT_ADD,
                        ("client", client.client_id),
                        organisation=client.organisation,
                    ),
                )
            print(f"demo clients  {len(DEMO_CLIENTS)} ({issued} issued) -> {credentials}")
        services.store.ensure_ready()
        if services.audit.export is not None:
            services.audit.export.ensure_ready()
            print(f"audit export  {services.audit.export.describe()} (ready)")
        bucket = settings.s3_bucket
        where = f"s3://{bucket}" if bucket else str(settings.storage_path)
        print(f"object store  {where} (ready)")
    finally:
        services.close()


def _init_policy(services: Services, *, demo: bool) -> None:
    """The v-number keys, and the policy file: installed if missing, then loaded and recorded."""
    with db.transaction(services.engine) as session:
        subject_keys = services.subjects.ensure(session)
    print(f"v-number keys {'created ' + ', '.join(subject_keys) if subject_keys else 'exist'}")
    path = services.settings.resolved_policy_file
    written = install_policy(path, demo=demo)
    try:
        policy = activate_policy(services, Context.operator())
    except PolicyError as exc:
        raise CommandError(str(exc)) from None
    print(f"policy        {path} ({'written' if written else 'exists'}; {policy.hash})")


def cmd_migrate(_args: argparse.Namespace) -> None:
    settings = load_settings()
    production.check_migration(settings)
    role = _migrate(settings)
    print(f"database migrated to {db.head_revision()}")
    if role is not None:
        print(f"database {_GRANTED.format(role=role)}")


_GRANTED = "granted hub role {role}: INSERT and SELECT only on the audit tables"


def _migrate(settings: Settings) -> str | None:
    """Migrate, as the owner role when KETENHUB_DATABASE_OWNER_URL is set, and then grant the
    hub's role (the user of KETENHUB_DATABASE_URL) its privileges. Returns that role, or
    ``None`` when the hub's own role migrates."""
    engine = db.make_engine(settings.resolved_migration_url)
    try:
        db.migrate(engine)
        if settings.database_owner_url is None:
            return None
        role = make_url(settings.resolved_database_url).username
        if not role:
            raise CommandError("KETENHUB_DATABASE_URL must name the hub's role", status=2)
        try:
            db.grant_hub_role(engine, role)
        except ValueError as exc:
            raise CommandError(
                f"migrated, but cannot grant the hub's role: {exc}", status=2
            ) from None
        return role
    finally:
        db.dispose(engine)


# -- serve --------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn  # noqa: PLC0415  (only this command needs the server)

    from hub.app import (  # noqa: PLC0415  (keeps the other commands light)
        SchemaNotCurrentError,
        check_schema,
        create_app,
    )

    settings = load_settings()
    preflight.check_serving(settings, host=args.host, port=args.port)
    try:
        services = build_services(settings)
        if services.audit.export is not None:
            # A checkpoint export that is not write-once is refused before serving.
            services.audit.export.ensure_ready()
    except StorageError as exc:
        raise CommandError(str(exc), status=_storage_status(exc)) from exc
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
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level=settings.log_level.lower(),
            # main() configured logging for both formats; hub.access replaces uvicorn's log.
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
        )
    finally:
        services.close()


# -- keys ---------------------------------------------------------------------------------------


def _with_services(action: Callable[[Services], None]) -> None:
    services = build_services(load_settings())
    try:
        action(services)
    finally:
        services.close()


def cmd_keys_list(_args: argparse.Namespace) -> None:
    def run(services: Services) -> None:
        with db.transaction(services.engine) as session:
            counts = vault_repository.wrap_counts(session)
            live = {
                k.kek_id: vault_repository.live_wrapped_under(session, k.kek_id)
                for k in services.keys.keks()
            }
        print(f"{'KEK id':<24} {'created':<26} {'wraps':>10} {'live keys':>10}")
        for kek in services.keys.keks():
            marker = "  (current)" if kek.current else ""
            print(
                f"{kek.kek_id:<24} {kek.created_at.isoformat(timespec='seconds'):<26} "
                f"{counts.get(kek.kek_id, 0):>10} {live[kek.kek_id]:>10}{marker}"
            )
        print(f"wrap limit per KEK: {services.keys.wrap_limit}")

    _with_services(run)


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    def rotate(services: Services) -> None:
        with db.transaction(services.engine) as session:
            if args.signing:
                key = services.oauth.signing.rotate(session)
                record(
                    services,
                    session,
                    Action.KEY_ROTATE,
                    ("signing_key", key.kid),
                )
                print(f"rotated: tokens are now signed with {key.kid} ({key.alg})")
                print("the previous key stays published until tokens it signed have expired")
            elif args.audit:
                verifier = services.audit.keys.rotate(session)
                record(
                    services,
                    session,
                    Action.KEY_ROTATE,
                    ("audit_key", verifier.encoded()),
                )
                print(f"rotated: checkpoints and receipts are now signed by {verifier.encoded()}")
                print("earlier audit keys stay published for what they signed")
            else:
                # Recorded in the same transaction; if the ring cannot be rotated, no record.
                old = services.keys.current_kek_id()
                new = services.keys.rotate()
                record(services, session, Action.KEY_ROTATE, ("kek", new))
                print(f"rotated: new data keys now use {new} (was {old})")
                print("existing data keys keep their KEK; `ketenhub keys rewrap` moves them")

    _with_services(rotate)


def cmd_keys_rewrap(args: argparse.Namespace) -> None:
    def run(services: Services) -> None:
        current = services.keys.current_kek_id()
        with db.transaction(services.engine) as session:
            moved = vault_service.rewrap_all(session, services.vault, batch_size=args.batch_size)
            signing = reseal_signing_keys(session, KeyRingSealer(services.keys), current)
            audit = services.audit.keys.reseal(session)
            subject = services.subjects.reseal(session)
            record(services, session, Action.KEY_REWRAP, ("kek", current))
        print(
            f"re-wrapped {moved} data keys, {signing} signing keys, {audit} audit keys and "
            f"{subject} v-number keys under {current}"
        )

    _with_services(run)


def cmd_keys_retire(args: argparse.Namespace) -> None:
    def run(services: Services) -> None:
        if args.kek_id == services.keys.current_kek_id():
            raise CommandError("the current key-encryption key cannot be retired; rotate first")
        with db.transaction(services.engine) as session:
            for what, count in (
                ("signing", live_signing_keys_under(session, args.kek_id)),
                ("audit", AuditKeys.sealed_under(session, args.kek_id)),
                ("v-number", SubjectKeys.sealed_under(session, args.kek_id)),
            ):
                if count:
                    raise CommandError(
                        f"{what} keys are still sealed under {args.kek_id}; "
                        "run `ketenhub keys rewrap`"
                    )
            record(services, session, Action.KEY_RETIRE, ("kek", args.kek_id))
            vault_service.retire_kek(session, services.vault, args.kek_id)
        print(f"retired {args.kek_id}: its key material is destroyed")

    _with_services(run)


# -- entry point --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ketenhub", description="Ketenhub: secure document exchange for the vreemdelingenketen"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="create the data dir, keys, database, organisations")
    init.add_argument("--demo", action="store_true", help="also load the demo data")
    init.set_defaults(func=cmd_init)

    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.set_defaults(func=cmd_migrate)

    serve = commands.add_parser("serve", help="run the hub's HTTP server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.set_defaults(func=cmd_serve)

    keys = commands.add_parser("keys", help="manage key-encryption keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    key_commands.add_parser("list", help="list KEKs with their usage").set_defaults(
        func=cmd_keys_list
    )
    rotate = key_commands.add_parser("rotate", help="start using a new KEK (or signing key)")
    which = rotate.add_mutually_exclusive_group()
    which.add_argument(
        "--signing", action="store_true", help="rotate the access-token signing key instead"
    )
    which.add_argument(
        "--audit", action="store_true", help="rotate the audit checkpoint key instead"
    )
    rotate.set_defaults(func=cmd_keys_rotate)
    rewrap = key_commands.add_parser("rewrap", help="move every data key to the current KEK")
    rewrap.add_argument("--batch-size", type=int, default=500)
    rewrap.set_defaults(func=cmd_keys_rewrap)
    retire = key_commands.add_parser("retire", help="destroy a KEK no data key needs")
    retire.add_argument("kek_id")
    retire.set_defaults(func=cmd_keys_retire)
    clients_commands.add_parser(commands)
    organisations_commands.add_parser(commands)
    audit_commands.add_parser(commands)
    documents_commands.add_parser(commands)
    return parser


def _storage_status(exc: StorageError) -> int:
    # A key file open to others (or writable, in production) is configuration, not a failure.
    return 2 if isinstance(exc, KeyFileInsecure) else 1


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - an exit status per failure
    args = build_parser().parse_args(argv)
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
        return _storage_status(exc)
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


if __name__ == "__main__":
    sys.exit(main())
