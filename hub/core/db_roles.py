"""PostgreSQL roles: the hub runs as a role of its own, apart from the role that owns the schema.

The owner role runs the migrations; the hub's role gets only the privileges
:func:`grant_hub_role` gives it: INSERT and SELECT on the append-only audit tables, and nothing
that could rewrite them (see ``docs/decisions/0006-database-roles.md``). SQLite has no roles.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Connection, Engine, text

from audit.models import APPEND_ONLY_TABLES

_SCHEMA: Final = "public"
_READ_ONLY_TABLES: Final = ("alembic_version",)


def grant_hub_role(owner_engine: Engine, role: str) -> None:
    """Give ``role``, the role the hub runs as, exactly the privileges the hub needs.

    Run through ``owner_engine``, connected as the role that owns the schema, after every
    migration: tables a migration adds get their privileges here. Idempotent; every table's
    privileges for ``role`` are reset and granted again, in one transaction:

    * the append-only audit tables (:data:`audit.models.APPEND_ONLY_TABLES`): SELECT and INSERT,
      with UPDATE, DELETE and TRUNCATE revoked from ``role`` and from PUBLIC;
    * ``alembic_version``: SELECT (the hub checks the schema is current, and never migrates);
    * every other table in the ``public`` schema: SELECT, INSERT, UPDATE, DELETE;
    * the schema: USAGE; its sequences: USAGE, SELECT.

    Raises :class:`ValueError`, granting nothing, when ``role`` is the owner or a superuser,
    when it owns or belongs to the owner of the schema or of a table (an owner may drop or alter
    what it owns, whatever was revoked), or when it still holds UPDATE, DELETE or TRUNCATE on an
    audit table afterwards (through another role). A no-op on SQLite, which has no roles.
    """
    if owner_engine.dialect.name != "postgresql":
        return
    quote = owner_engine.dialect.identifier_preparer.quote_identifier
    with owner_engine.begin() as connection:
        owner = connection.execute(text("SELECT current_user")).scalar_one()
        if role == owner:
            raise ValueError(
                f"the hub's role {role} is the owner role; the hub must run as a role of its own"
            )
        check_separate_role(connection, role, owner=owner)
        tables = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :schema ORDER BY tablename"),
            {"schema": _SCHEMA},
        ).scalars()
        grantee, schema = quote(role), quote(_SCHEMA)
        statements = [f"GRANT USAGE ON SCHEMA {schema} TO {grantee}"]
        for table in tables:
            name = f"{schema}.{quote(table)}"
            statements.append(f"REVOKE ALL ON TABLE {name} FROM {grantee}")
            if table in APPEND_ONLY_TABLES:
                statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE ON TABLE {name} FROM PUBLIC")
                statements.append(f"GRANT SELECT, INSERT ON TABLE {name} TO {grantee}")
            elif table in _READ_ONLY_TABLES:
                statements.append(f"GRANT SELECT ON TABLE {name} TO {grantee}")
            else:
                statements.append(
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {name} TO {grantee}"
                )
        statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {grantee}")
        for statement in statements:
            connection.exec_driver_sql(statement)
        # Grants cannot take away what comes through membership of another role (or PUBLIC
        # grants made by someone else): check the outcome, not the statements.
        if found := rewritable_audit_tables(connection, role):
            raise ValueError(
                f"the hub's role {role} could still UPDATE, DELETE or TRUNCATE "
                f"{', '.join(found)} through a role it belongs to; nothing was granted"
            )


def check_separate_role(connection: Connection, role: str, *, owner: str | None = None) -> None:
    """Raise :class:`ValueError` unless ``role`` is an ordinary role, apart from whoever owns
    the schema: no superuser, and neither the owner nor a member of the owner of the schema or
    of any table in it.

    ``owner`` names the owner role in the advice, when the caller knows it (the migration
    does; the hub checking its own role at start does not).
    """
    superuser = connection.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).scalar_one_or_none()
    if superuser is None:
        raise ValueError(f"there is no database role {role}; create it first (CREATE ROLE)")
    if superuser:
        raise ValueError(f"the hub's role {role} is a superuser, which no privilege binds")
    # An owner may drop or alter what it owns whatever was revoked, and so may its members
    # (in PostgreSQL 15 the database's owner owns the public schema). A role is a member of
    # itself, so this also finds what the role owns directly.
    owners = connection.execute(
        text(
            "SELECT DISTINCT CAST(o.oid AS regrole)::text FROM ("
            " SELECT nspowner FROM pg_namespace WHERE nspname = :schema"
            " UNION SELECT relowner FROM pg_class"
            "  WHERE relnamespace = CAST(:schema AS regnamespace) AND relkind IN ('r', 'p')"
            ") AS o(oid) WHERE pg_has_role(CAST(:role AS name), o.oid, 'MEMBER')"
        ),
        {"schema": _SCHEMA, "role": role},
    ).scalars()
    if held := sorted(owners):
        advice = (
            f"give them to {owner} (create the database with OWNER {owner}, or REASSIGN OWNED "
            f"BY … TO {owner}) and revoke any membership"
            if owner
            else "run the hub as a role that owns nothing and belongs to no owner (see the "
            "README's Database roles)"
        )
        raise ValueError(
            f"the hub's role {role} is, or is a member of, {', '.join(held)}, which owns the "
            f"schema or tables in it; {advice}"
        )


def rewritable_audit_tables(connection: Connection, role: str) -> list[str]:
    """The append-only audit tables that ``role`` could UPDATE, DELETE or TRUNCATE, by any
    grant: its own, a role's it belongs to, or PUBLIC's."""
    found = connection.execute(
        text(
            "SELECT t FROM unnest(CAST(:tables AS text[])) AS t"
            " WHERE to_regclass(format('%I.%I', CAST(:schema AS text), t)) IS NOT NULL"
            " AND has_table_privilege(CAST(:role AS name),"
            "  format('%I.%I', CAST(:schema AS text), t), 'UPDATE, DELETE, TRUNCATE')"
        ),
        {"tables": list(APPEND_ONLY_TABLES), "schema": _SCHEMA, "role": role},
    ).scalars()
    return list(found)
