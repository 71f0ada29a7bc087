"""The settings that name other services: the database URLs and the S3-compatible store.

Each check raises :class:`ValueError` with one line naming the variable; none ever quotes a
URL that may hold a password. On PostgreSQL the hub can run as two roles (see
``docs/decisions/0006-database-roles.md``): ``KETENHUB_DATABASE_URL`` names the role the hub
runs as, and ``KETENHUB_DATABASE_OWNER_URL`` the role that owns the schema and runs the
migrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

# The drivers the hub ships: SQLite (standard library) and PostgreSQL through psycopg 3.
_DATABASE_DRIVERS: Final = frozenset(
    {"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"}
)


@dataclass(frozen=True, slots=True)
class S3Connection:
    """Where and how to reach the S3-compatible store."""

    endpoint: str
    access_key: SecretStr
    secret_key: SecretStr
    region: str | None
    bucket: str


def parse_database_url(name: str, url: str) -> URL:
    """``url`` parsed, when it names a driver the hub ships; ``name`` is its variable."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Never quote the URL itself: it may hold a password.
        raise ValueError(f"{name} is not a database URL") from None
    if parsed.drivername not in _DATABASE_DRIVERS:
        # The scheme alone holds no secret; naming it shows the mistake.
        raise ValueError(
            f"{name} must be a sqlite:/// or postgresql:// URL, not {parsed.drivername}://"
        )
    return parsed


def check_database_roles(hub_url: str, owner_url: str) -> None:
    """The hub's role and the owner role must be two PostgreSQL roles on one database."""
    hub = parse_database_url("KETENHUB_DATABASE_URL", hub_url)
    owner = parse_database_url("KETENHUB_DATABASE_OWNER_URL", owner_url)
    if hub.get_backend_name() != "postgresql" or owner.get_backend_name() != "postgresql":
        raise ValueError(
            "KETENHUB_DATABASE_OWNER_URL is for PostgreSQL: set both it and "
            "KETENHUB_DATABASE_URL to postgresql:// URLs"
        )
    if hub.database != owner.database:
        raise ValueError(
            "KETENHUB_DATABASE_OWNER_URL and KETENHUB_DATABASE_URL must name the same database"
        )
    if not hub.username:
        raise ValueError(
            "with KETENHUB_DATABASE_OWNER_URL set, KETENHUB_DATABASE_URL must name the hub's "
            "role: postgresql://ROLE@HOST/DATABASE"
        )


def is_s3_storage(storage_url: str | None) -> bool:
    """Check ``KETENHUB_STORAGE_URL`` (a filesystem path or ``s3://BUCKET``); whether it is S3."""
    if storage_url is None or not storage_url.startswith("s3://"):
        if storage_url is not None and "://" in storage_url.removeprefix("file://"):
            raise ValueError("KETENHUB_STORAGE_URL must be a filesystem path or s3://BUCKET")
        return False
    parts = urlsplit(storage_url)
    if not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise ValueError("KETENHUB_STORAGE_URL must be s3://BUCKET, with no path or query")
    return True


def is_s3_export(target: str | None) -> bool:
    """Check ``KETENHUB_AUDIT_EXPORT_URL`` (a directory or ``s3://BUCKET[/PREFIX]``); whether it
    is S3."""
    if target is None or not target.startswith("s3://"):
        if target is not None and "://" in target.removeprefix("file://"):
            raise ValueError(
                "KETENHUB_AUDIT_EXPORT_URL must be a directory or s3://BUCKET[/PREFIX]"
            )
        return False
    parts = urlsplit(target)
    if not parts.netloc or parts.query or parts.fragment:
        raise ValueError("KETENHUB_AUDIT_EXPORT_URL must be s3://BUCKET[/PREFIX]")
    return True


def check_s3_connection(
    needed_by: str,
    *,
    endpoint: str | None,
    access_key: SecretStr | None,
    secret_key: SecretStr | None,
) -> None:
    """What ``needed_by`` (a store or an export on S3) needs: all three, and an http(s) URL."""
    missing = [
        name
        for name, value in (
            ("KETENHUB_S3_ENDPOINT", endpoint),
            ("KETENHUB_S3_ACCESS_KEY", access_key),
            ("KETENHUB_S3_SECRET_KEY", secret_key),
        )
        if not value
    ]
    if missing:
        raise ValueError(f"{needed_by} needs {', '.join(missing)}")
    parts = urlsplit(endpoint or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("KETENHUB_S3_ENDPOINT must be an http:// or https:// URL")
