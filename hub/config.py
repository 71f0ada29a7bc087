"""The hub's settings: one ``Settings`` class, read from ``KETENHUB_*`` environment variables.

Packages outside ``hub`` never read the environment; the hub builds their objects from these
settings and passes them in. Defaults give the embedded set-up (SQLite and local files under the
data dir). Outside ``development`` and ``demo`` the settings refuse what would be insecure in a
deployment: plain-text connections to other hosts, and a missing S3 secret.

On PostgreSQL the hub can run as two roles (see ``docs/decisions/0006-database-roles.md``):
``KETENHUB_DATABASE_URL`` names the role the hub runs as, and ``KETENHUB_DATABASE_OWNER_URL``
the role that owns the schema and runs the migrations.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final, Literal, Self
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from auth.scopes import Scope
from hub.proxy import ForwardedHeader, ProxyNetwork
from hub.secret_files import SecretFilesSource

API_VERSION: Final = "1.0.0"
"""The API's full semantic version, sent as the ``API-Version`` header on every response."""
_SCOPES: Final = frozenset(s.value for s in Scope)
_ENV_PREFIX: Final = "KETENHUB_"
# The drivers the hub ships: SQLite (standard library) and PostgreSQL through psycopg 3.
_DATABASE_DRIVERS: Final = frozenset(
    {"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"}
)


class Environment(StrEnum):
    """How the hub runs. Only ``production`` enforces the deployment checks."""

    PRODUCTION = "production"
    DEVELOPMENT = "development"
    DEMO = "demo"


class LogFormat(StrEnum):
    """How log records are written: a line of text, or one JSON object per line."""

    TEXT = "text"
    JSON = "json"


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
]
"""A logging level by name, in any case; anything else is refused with the names allowed."""


class LoggingSettings(BaseSettings):
    """The settings every command needs before anything else runs: how to log.

    Read on their own at the start of every command (``hub.cli.main``), so that a bad value is
    one line naming the variable, not a traceback from the logging module. :class:`Settings`
    carries the same two fields.
    """

    model_config = SettingsConfigDict(env_prefix="KETENHUB_", extra="ignore", frozen=True)

    log_level: LogLevel = "INFO"
    log_format: LogFormat = LogFormat.TEXT


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """A host (name or IP literal) and a TCP port to listen on."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen_address(name: str, value: str) -> ListenAddress:
    """``HOST:PORT`` (``[IPv6]:PORT`` for an IPv6 literal), as in ``127.0.0.1:9464``."""
    problem = ValueError(f"{name} must be HOST:PORT, such as 127.0.0.1:9464 or [::1]:9464")
    try:
        parts = urlsplit(f"//{value}")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise problem from None
    if parts.netloc != value or parts.username is not None or not host or port is None:
        raise problem  # a path, query, credentials or a missing part
    if not 0 < port < 65536 or not (_HOSTNAME.fullmatch(host) or _is_ip(host)):
        raise problem
    return ListenAddress(host, port)


_HOSTNAME: Final = re.compile(
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class InsecureSettingsError(ValueError):
    """A setting that is acceptable on a laptop but not in a deployment."""


def _is_loopback(host: str | None) -> bool:
    if not host:
        # A Unix socket (no host) never leaves the machine.
        return True
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_database_url(name: str, url: str) -> URL:
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


@dataclass(frozen=True, slots=True)
class S3Connection:
    """Where and how to reach the S3-compatible store."""

    endpoint: str
    access_key: SecretStr
    secret_key: SecretStr
    region: str | None
    bucket: str


class TrustedIssuerSettings(BaseModel):
    """One entry of ``KETENHUB_TRUSTED_ISSUERS`` (a JSON list of these)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str
    jwks_url: str
    organisation_claim: str = "organisation"
    allowed_scopes: tuple[str, ...]
    organisations: tuple[str, ...] = ()


class Settings(BaseSettings):
    """Every ``KETENHUB_*`` variable. See the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix=_ENV_PREFIX, extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # KETENHUB_<SECRET>_FILE beside the plain variables (see hub.secret_files); the two
        # for one setting are refused together, so their order here decides nothing.
        secret_files = SecretFilesSource(settings_cls, prefix=_ENV_PREFIX)
        return init_settings, secret_files, env_settings, dotenv_settings, file_secret_settings

    environment: Environment = Field(
        default=Environment.PRODUCTION,
        description="production, development or demo; only production refuses insecure settings",
    )
    data_dir: Path = Field(default=Path("var"), description="Where embedded data and keys live")
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL; default SQLite in the data dir. May hold a password.",
    )
    database_owner_url: SecretStr | None = Field(
        default=None,
        description=(
            "PostgreSQL URL of the role that owns the schema and runs migrations, on the same "
            "database as KETENHUB_DATABASE_URL, whose role then gets only the privileges the hub "
            "needs; default: migrate as the hub's own role. May hold a password."
        ),
    )
    database_pool_size: int = Field(
        default=10, ge=1, le=1000, description="Database connections each process keeps open"
    )
    database_max_overflow: int = Field(
        default=30,
        ge=0,
        le=1000,
        description="Connections opened beyond the pool under load (one per request in flight "
        "at most; the server runs up to 40 requests' database work at once)",
    )
    storage_url: str | None = Field(
        default=None,
        description="Object store: a filesystem path, or s3://BUCKET; default <data dir>/objects",
    )
    s3_endpoint: str | None = Field(default=None, description="e.g. http://127.0.0.1:7482")
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str | None = None
    key_file: Path | None = Field(
        default=None, description="Key-encryption key ring; default <data dir>/keys/keyring.json"
    )
    private_network_hosts: frozenset[str] = Field(
        default=frozenset(),
        description=(
            "Hosts reached over a private network the operator controls (such as the service "
            "names of a compose network), where plain-text transport is accepted in production"
        ),
    )
    trusted_proxies: tuple[ProxyNetwork, ...] = Field(
        default=(),
        description=(
            "JSON list of the addresses or CIDRs of the reverse proxies in front of the hub; "
            "the client's address is taken from forwarding headers only when the connection "
            "comes from one of these. Default: none, the TCP peer is the client"
        ),
    )
    forwarded_header: ForwardedHeader = Field(
        default="x-forwarded-for",
        description=(
            "The header the trusted proxies set: X-Forwarded-For (with X-Forwarded-Proto) or "
            "RFC 7239 Forwarded. Only this one is read; the other is the client's to forge"
        ),
    )
    kek_wrap_limit: int = Field(default=2**31, ge=1, le=2**32)

    # -- observability (see hub/observability) -------------------------------------------------
    log_level: LogLevel = "INFO"
    log_format: LogFormat = Field(
        default=LogFormat.TEXT, description="text, or json: one object per line"
    )
    metrics_address: str | None = Field(
        default=None,
        description="HOST:PORT where GET /metrics is also served without a token; off by default. "
        "In production only loopback or a host in KETENHUB_PRIVATE_NETWORK_HOSTS",
    )

    # -- OAuth 2.0 ---------------------------------------------------------------------------
    issuer: str = Field(
        default="http://127.0.0.1:8000",
        description="The hub's public base URL: the OAuth issuer identifier (https in production)",
    )
    api_audience: str | None = Field(
        default=None, description="The API's identifier in tokens' aud; default <issuer>/api/v1"
    )
    access_token_lifetime: int = Field(default=600, ge=60, le=3600)
    token_signing_alg: Literal["PS256", "ES256"] = "PS256"  # noqa: S105 - an algorithm name
    client_secret_auth: bool | None = Field(
        default=None,
        description="Accept client_secret_basic; default on in demo mode only",
    )
    trusted_issuers: tuple[TrustedIssuerSettings, ...] = Field(
        default=(), description="Partners' own authorization servers whose tokens are accepted"
    )
    processing_activity_base: str = Field(
        default="urn:ketenhub:verwerkingsactiviteit:",
        description="Prefix that turns a processing-activity code into its register URI",
    )

    # -- sharing policy and documents ---------------------------------------------------------
    policy_file: Path | None = Field(
        default=None,
        description="The sharing policy (YAML); default <data dir>/policy.yaml, written by init",
    )
    retention_interval: int = Field(
        default=3600,
        ge=0,
        le=86_400,
        description="Seconds between retention runs that crypto-shred expired documents; 0: off",
    )

    # -- audit trail ---------------------------------------------------------------------------
    audit_origin: str | None = Field(
        default=None,
        description="The log's name: origin line of checkpoints and name of the audit key; "
        "default <issuer host>/audit",
        pattern=r"^[^\s+]{1,200}$",
    )
    audit_checkpoint_interval: int = Field(
        default=60, ge=0, le=86_400, description="Seconds between checkpoints; 0: on demand only"
    )
    audit_export_url: str | None = Field(
        default=None,
        description="Where checkpoints are exported: a directory, or s3://BUCKET[/PREFIX] with "
        "object lock; default <data dir>/audit-checkpoints",
    )
    audit_export_retention_days: int = Field(
        default=3650, ge=1, le=36_500, description="Object-lock retention of exported checkpoints"
    )

    # -- derived values ------------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'ketenhub.db').resolve()}"

    @property
    def resolved_migration_url(self) -> str:
        """The URL to migrate with: the owner role's when one is set, else the hub's own."""
        if self.database_owner_url is not None:
            return self.database_owner_url.get_secret_value()
        return self.resolved_database_url

    @property
    def resolved_audit_origin(self) -> str:
        return self.audit_origin or f"{urlsplit(self.issuer).netloc}/audit"

    @property
    def resolved_audit_export(self) -> str:
        return self.audit_export_url or str(self.data_dir / "audit-checkpoints")

    @property
    def resolved_policy_file(self) -> Path:
        return self.policy_file if self.policy_file is not None else self.data_dir / "policy.yaml"

    @property
    def resolved_api_audience(self) -> str:
        return self.api_audience or f"{self.issuer}/api/v1"

    @property
    def resolved_metrics_address(self) -> ListenAddress | None:
        if self.metrics_address is None:
            return None
        return parse_listen_address("KETENHUB_METRICS_ADDRESS", self.metrics_address)

    @property
    def allows_client_secret(self) -> bool:
        if self.client_secret_auth is not None:
            return self.client_secret_auth
        return self.environment is Environment.DEMO

    def purpose_uri(self, code: str) -> str:
        return f"{self.processing_activity_base}{code}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file if self.key_file is not None else self.data_dir / "keys/keyring.json"

    @property
    def s3_bucket(self) -> str | None:
        """The bucket when the store is S3, else ``None``."""
        if self.storage_url is None or not self.storage_url.startswith("s3://"):
            return None
        return urlsplit(self.storage_url).netloc

    @property
    def s3_connection(self) -> S3Connection | None:
        """The S3 connection when the store is S3 (validated complete), else ``None``."""
        bucket = self.s3_bucket
        if bucket is None or not self.s3_endpoint or not self.s3_access_key:
            return None
        if self.s3_secret_key is None:
            return None
        return S3Connection(
            self.s3_endpoint, self.s3_access_key, self.s3_secret_key, self.s3_region, bucket
        )

    @property
    def storage_path(self) -> Path:
        """The filesystem store's root; only meaningful when :attr:`s3_bucket` is ``None``."""
        if self.storage_url is None:
            return self.data_dir / "objects"
        return Path(self.storage_url.removeprefix("file://"))

    # -- validation ----------------------------------------------------------------------------

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        if not isinstance(value, list | tuple | set | frozenset):
            return value  # pydantic reports the wrong type
        networks: list[ProxyNetwork] = []
        for entry in value:
            try:
                networks.append(
                    entry
                    if isinstance(entry, ProxyNetwork)
                    else ipaddress.ip_network(str(entry).strip())
                )
            except ValueError as exc:
                # Strict: 10.0.0.7/24 is refused ("has host bits set"), since it may mean the
                # host or the network.
                raise ValueError(
                    f"KETENHUB_TRUSTED_PROXIES: {exc}; give addresses (10.0.0.5) or networks "
                    "(10.0.0.0/24)"
                ) from None
        return tuple(networks)

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._check_database_urls()
        self._check_storage()
        self._check_audit_export()
        self._check_oauth()
        self._check_database_roles()
        _ = self.resolved_metrics_address  # raises ValueError naming the variable
        if self.is_production:
            self._refuse_insecure()
        return self

    def _check_storage(self) -> None:
        if self.storage_url is None or not self.storage_url.startswith("s3://"):
            if self.storage_url is not None and "://" in self.storage_url.removeprefix("file://"):
                raise ValueError("KETENHUB_STORAGE_URL must be a filesystem path or s3://BUCKET")
            return
        parts = urlsplit(self.storage_url)
        if not parts.netloc or parts.path not in ("", "/") or parts.query:
            raise ValueError("KETENHUB_STORAGE_URL must be s3://BUCKET, with no path or query")
        self._check_s3_connection("an s3:// store")

    def _check_audit_export(self) -> None:
        target = self.audit_export_url
        if target is None or not target.startswith("s3://"):
            if target is not None and "://" in target.removeprefix("file://"):
                raise ValueError(
                    "KETENHUB_AUDIT_EXPORT_URL must be a directory or s3://BUCKET[/PREFIX]"
                )
            return
        parts = urlsplit(target)
        if not parts.netloc or parts.query or parts.fragment:
            raise ValueError("KETENHUB_AUDIT_EXPORT_URL must be s3://BUCKET[/PREFIX]")
        self._check_s3_connection("an s3:// checkpoint export")

    @property
    def uses_s3(self) -> bool:
        """Whether anything (the object store or the checkpoint export) talks to S3."""
        export = self.audit_export_url or ""
        return self.s3_bucket is not None or export.startswith("s3://")

    def _check_s3_connection(self, needed_by: str) -> None:
        missing = [
            name
            for name, value in (
                ("KETENHUB_S3_ENDPOINT", self.s3_endpoint),
                ("KETENHUB_S3_ACCESS_KEY", self.s3_access_key),
                ("KETENHUB_S3_SECRET_KEY", self.s3_secret_key),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"{needed_by} needs {', '.join(missing)}")
        endpoint = urlsplit(self.s3_endpoint or "")
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            raise ValueError("KETENHUB_S3_ENDPOINT must be an http:// or https:// URL")

    def _check_oauth(self) -> None:
        issuer = urlsplit(self.issuer)
        if issuer.scheme not in ("http", "https") or not issuer.hostname:
            raise ValueError("KETENHUB_ISSUER must be an http(s) URL")
        if issuer.query or issuer.fragment or self.issuer.endswith("/"):
            raise ValueError("KETENHUB_ISSUER must have no query, fragment or trailing slash")
        if issuer.scheme == "http" and not _is_loopback(issuer.hostname):
            # OAuth 2.0 requires TLS; plain http only for a hub on this machine (demo, tests).
            raise ValueError("KETENHUB_ISSUER must be https://, or http:// on a loopback address")
        for trusted in self.trusted_issuers:
            unknown = set(trusted.allowed_scopes) - _SCOPES
            if unknown:
                raise ValueError(f"trusted issuer {trusted.issuer}: unknown scopes {unknown}")
            if trusted.issuer == self.issuer:
                raise ValueError("a trusted issuer cannot be the hub itself")

    def _check_database_urls(self) -> None:
        for name, value in (
            ("KETENHUB_DATABASE_URL", self.database_url),
            ("KETENHUB_DATABASE_OWNER_URL", self.database_owner_url),
        ):
            if value is not None:
                _parse_database_url(name, value.get_secret_value())

    def _check_database_roles(self) -> None:
        if self.database_owner_url is None:
            return
        hub = _parse_database_url("KETENHUB_DATABASE_URL", self.resolved_database_url)
        owner = _parse_database_url("KETENHUB_DATABASE_OWNER_URL", self.resolved_migration_url)
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

    def _is_private(self, host: str | None) -> bool:
        return _is_loopback(host) or (host is not None and host in self.private_network_hosts)

    def _database_uses_tls(self, url: str) -> bool:
        """Whether a connection to ``url`` is encrypted, or stays on a trusted network."""
        db = urlsplit(url)
        if not db.scheme.startswith("postgresql") or self._is_private(db.hostname):
            return True
        sslmode = parse_qs(db.query).get("sslmode", [""])[-1]
        return sslmode in ("require", "verify-ca", "verify-full")

    def _refuse_insecure(self) -> None:
        problems: list[str] = []
        if self.uses_s3:
            endpoint = urlsplit(self.s3_endpoint or "")
            if endpoint.scheme != "https" and not self._is_private(endpoint.hostname):
                problems.append("KETENHUB_S3_ENDPOINT uses plain http to another host; use https")
        databases = [("KETENHUB_DATABASE_URL", self.resolved_database_url)]
        if self.database_owner_url is not None:
            databases.append(("KETENHUB_DATABASE_OWNER_URL", self.resolved_migration_url))
        problems.extend(
            f"{name} reaches another host without TLS; add sslmode=verify-full"
            for name, url in databases
            if not self._database_uses_tls(url)
        )
        issuer = urlsplit(self.issuer)
        if issuer.scheme != "https" or _is_loopback(issuer.hostname):
            # Partners reach the hub at its issuer, and the audit key is named after it: a
            # loopback default would fix "127.0.0.1:8000/audit" into every checkpoint.
            problems.append(
                "KETENHUB_ISSUER must be the hub's public https:// URL, not "
                f"{issuer.scheme}://{issuer.netloc}"
            )
        problems.extend(
            f"KETENHUB_TRUSTED_PROXIES: {network} trusts every address, so any client could "
            "choose the address the audit trail records"
            for network in self.trusted_proxies
            if network.prefixlen == 0
        )
        problems.extend(
            f"the JWKS of trusted issuer {t.issuer} must use https"
            for t in self.trusted_issuers
            if urlsplit(t.jwks_url).scheme != "https"
        )
        if self.client_secret_auth:
            problems.append("client_secret_basic is for demos; use private_key_jwt")
        metrics = self.resolved_metrics_address
        if metrics is not None and not self._is_private(metrics.host):
            # Scrapes there need no token: serving them beyond this machine is a choice to make
            # twice (see docs/decisions/0011-observability.md).
            problems.append(
                f"KETENHUB_METRICS_ADDRESS {metrics} serves metrics without a token beyond this "
                "machine; use a loopback address, or list the host in "
                "KETENHUB_PRIVATE_NETWORK_HOSTS if that network is yours alone"
            )
        if problems:
            raise InsecureSettingsError(
                "refusing insecure settings in production (set KETENHUB_ENVIRONMENT=development "
                "to allow them on a workstation): " + "; ".join(problems)
            )
