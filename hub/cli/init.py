"""``ketenhub init`` and ``ketenhub migrate``: setting a hub up, and upgrading its schema."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Final

from sqlalchemy.engine import make_url

from audit.events import Action
from hub.accounts.demo import DEMO_USERS, ensure_demo_users
from hub.cli import production
from hub.cli.console import CommandError, load_settings, operator_recorder
from hub.cli.directions import DEMO_CREDENTIALS, demo_pointer
from hub.clients.demo import DEMO_CLIENTS, ensure_demo_clients
from hub.clients.web import callback_uri, ensure_web_client
from hub.config import Settings
from hub.core import db, db_roles
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN, ensure_organisations
from hub.rules import PolicyError
from hub.rules.install import install_policy
from hub.runtime import (
    Services,
    activate_policy,
    build_services,
    create_key_ring,
    open_key_ring,
)
from hub.trail.context import Context
from hub.trail.recorder import About
from storage.errors import KeyFileMissing

_GRANTED: Final = "granted hub role {role}: INSERT and SELECT only on the audit tables"


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


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
        ring = create_key_ring(settings)
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
        _init_session_key(services)
        _init_policy(services, demo=args.demo)
        _init_web_client(services)
        if args.demo:
            _init_demo_people(services)
        services.store.ensure_ready()
        if services.audit.export is not None:
            services.audit.export.ensure_ready()
            print(f"audit export  {services.audit.export.describe()} (ready)")
        bucket = settings.s3_bucket
        where = f"s3://{bucket}" if bucket else str(settings.storage_path)
        print(f"object store  {where} (ready)")
    finally:
        services.close()
    if args.demo:
        print(demo_pointer(settings))


def _init_session_key(services: Services) -> None:
    """The web-session key (decision 0024); the first session would make it, but set up here
    it is in place before any replica serves."""
    with db.transaction(services.engine) as session:
        key_id = services.session_keys.ensure(session)
    print(f"session key   {'created ' + key_id if key_id else 'exists'}")


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


def _init_demo_people(services: Services) -> None:
    """The demo clients and people, their credentials in ``<data dir>/demo-credentials.json``."""
    credentials = services.settings.data_dir / DEMO_CREDENTIALS
    recorder = operator_recorder(services)
    with db.transaction(services.engine) as session:
        issued = ensure_demo_clients(
            session,
            credentials,
            on_added=lambda client: recorder.record(
                session,
                Action.CLIENT_ADD,
                About("client", client.client_id),
                organisation=client.organisation,
            ),
        )
    print(f"demo clients  {len(DEMO_CLIENTS)} ({issued} issued) -> {credentials}")
    with db.transaction(services.engine) as session:
        issued = ensure_demo_users(
            session, services.accounts, credentials, context=recorder.context
        )
    print(f"demo users    {len(DEMO_USERS)} ({issued} issued) -> {credentials}")


def _init_web_client(services: Services) -> None:
    """The web UI's own OAuth client (decision 0023), with its redirect URI from the issuer."""
    recorder = operator_recorder(services)
    with db.transaction(services.engine) as session:
        added = ensure_web_client(session, issuer=services.settings.issuer)
        if added is not None:
            recorder.record(
                session,
                Action.CLIENT_ADD,
                About("client", added.client_id),
                organisation=added.organisation,
            )
    state = "created" if added is not None else "exists"
    print(f"web client    {state} (redirect {callback_uri(services.settings.issuer)})")


def cmd_migrate(_args: argparse.Namespace) -> None:
    settings = load_settings()
    production.check_migration(settings)
    role = _migrate(settings)
    print(f"database migrated to {db.head_revision()}")
    if role is not None:
        print(f"database {_GRANTED.format(role=role)}")


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
            db_roles.grant_hub_role(engine, role)
        except ValueError as exc:
            raise CommandError(
                f"migrated, but cannot grant the hub's role: {exc}", status=2
            ) from None
        return role
    finally:
        db.dispose(engine)


def add_parser(commands: Any) -> None:
    init = commands.add_parser("init", help="create the data dir, keys, database, organisations")
    init.add_argument("--demo", action="store_true", help="also load the demo data")
    init.set_defaults(func=cmd_init)

    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.set_defaults(func=cmd_migrate)
