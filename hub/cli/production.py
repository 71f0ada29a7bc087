"""What production refuses at run time, beyond what :class:`~hub.config.Settings` can see alone.

Settings validation refuses what a value shows by itself (plain-text transport, a loopback
issuer). Some of the hub's guarantees are undone by the state of the database instead, so the
commands check that before they act, in production only (``KETENHUB_ENVIRONMENT=production``,
the default); see ``docs/decisions/0014-deployment-and-production-checks.md``:

- **Migrating as the hub's own role** (PostgreSQL without ``KETENHUB_DATABASE_OWNER_URL``)
  makes the hub's role the owner of the audit tables, which may then rewrite or drop them
  whatever was revoked. ``init`` and ``migrate`` refuse it.
- **Serving as a role that can rewrite the trail**: a superuser, the owner (or a member of the
  owner) of the schema or a table, or a role that holds UPDATE, DELETE or TRUNCATE on an audit
  table through any grant. ``serve`` refuses it; the hub may only INSERT and SELECT there
  (decision 0006).
- **Serving with demo credentials**: the demo clients and demo users of ``ketenhub init --demo``
  have secrets (and passwords and TOTP secrets) written to a file in the data dir. ``serve``
  refuses while any of them is enabled.

Each refusal is a :class:`~hub.cli.console.CommandError` with exit status 2 and one line that names
the setting or the objects at fault.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from auth.models import OAuthClient, UserAccount
from hub.accounts.demo import DEMO_USERNAMES
from hub.cli.console import CommandError
from hub.clients.demo import DEMO_CLIENTS
from hub.config import Settings
from hub.core import db_roles

DEMO_CLIENT_IDS: Final = frozenset(client.client_id for client in DEMO_CLIENTS)
"""What marks demo data: the clients ``ketenhub init --demo`` creates, whose secrets sit in
``demo-credentials.json``."""


def check_migration(settings: Settings) -> None:
    """Refuse, in production on PostgreSQL, to migrate as the role the hub runs as."""
    if not settings.is_production or settings.database_owner_url is not None:
        return
    if make_url(settings.resolved_database_url).get_backend_name() != "postgresql":
        return  # SQLite has no roles: the file's permissions are what protects it
    raise CommandError(
        "refusing to migrate in production as the hub's own role, which would then own the "
        "audit tables: set KETENHUB_DATABASE_OWNER_URL to the role that owns the schema "
        "(see the README's Database roles)",
        status=2,
    )


def check_serving(settings: Settings, engine: Engine) -> None:
    """Refuse, in production, to serve as a role that can rewrite the audit trail, or with
    demo clients enabled. The schema must be current (the caller checked)."""
    if not settings.is_production:
        return
    if engine.dialect.name == "postgresql":
        _check_database_role(engine)
    _check_no_demo_clients(engine)
    _check_no_demo_users(engine)


def _check_database_role(engine: Engine) -> None:
    with engine.connect() as connection:
        role = connection.execute(text("SELECT current_user")).scalar_one()
        try:
            db_roles.check_separate_role(connection, role)
        except ValueError as exc:
            raise CommandError(
                f"refusing to serve in production: KETENHUB_DATABASE_URL: {exc}", status=2
            ) from None
        if found := db_roles.rewritable_audit_tables(connection, role):
            raise CommandError(
                "refusing to serve in production: KETENHUB_DATABASE_URL: the hub's role "
                f"{role} can UPDATE, DELETE or TRUNCATE {', '.join(found)}; run `ketenhub "
                "migrate` with KETENHUB_DATABASE_OWNER_URL to reset its grants, and revoke "
                "any role that gives it more",
                status=2,
            )


def _check_no_demo_clients(engine: Engine) -> None:
    _refuse_enabled(
        engine,
        select(OAuthClient.client_id).where(
            col(OAuthClient.client_id).in_(DEMO_CLIENT_IDS), col(OAuthClient.enabled)
        ),
        "demo clients enabled ({names}): their secrets are in demo-credentials.json; disable "
        "them (`ketenhub client disable CLIENT_ID`), or set KETENHUB_ENVIRONMENT=demo",
    )


def _check_no_demo_users(engine: Engine) -> None:
    _refuse_enabled(
        engine,
        select(UserAccount.username).where(
            col(UserAccount.username).in_(DEMO_USERNAMES), col(UserAccount.enabled)
        ),
        "demo users enabled ({names}): their passwords and factors are in "
        "demo-credentials.json; disable them (`ketenhub user disable USERNAME`), or set "
        "KETENHUB_ENVIRONMENT=demo",
    )


def _refuse_enabled(engine: Engine, names: SelectOfScalar[str], what: str) -> None:
    """Refuse to serve when ``names`` finds any: ``what`` says what they are and what to do."""
    with Session(engine) as session:
        enabled = sorted(session.exec(names).all())
    if enabled:
        raise CommandError(
            f"refusing to serve in production with {len(enabled)} "
            + what.format(names=", ".join(enabled)),
            status=2,
        )
