"""The hub's settings model: one ``Settings`` class, read from ``KETENHUB_*`` environment variables.

Packages outside ``hub`` never read the environment; the hub builds their objects from these
settings and passes them in. Defaults give the embedded set-up (SQLite and local files under the
data dir). Every check runs when settings are built; the checks live beside what they check
(:mod:`hub.config.connections`, :mod:`hub.config.oauth`, :mod:`hub.config.network`), and outside
``development`` and ``demo`` the production rules of :mod:`hub.config.insecure` refuse what would
be insecure in a deployment.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Final, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hub.config.connections import (
    S3Connection,
    check_database_roles,
    check_s3_connection,
    is_s3_export,
    is_s3_storage,
    parse_database_url,
)
from hub.config.insecure import refuse_insecure
from hub.config.logs import LogFormat, LogLevel
from hub.config.network import (
    ForwardedHeader,
    ListenAddress,
    ProxyNetwork,
    parse_listen_address,
    parse_proxy_networks,
)
from hub.config.oauth import TrustedIssuerSettings, check_oauth
from hub.config.secret_files import SecretFilesSource

_ENV_PREFIX: Final = "KETENHUB_"


def available_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # macOS has no affinity


class Environment(StrEnum):
    """How the hub runs. Only ``production`` enforces the deployment checks."""

    PRODUCTION = "production"
    DEVELOPMENT = "development"
    DEMO = "demo"


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
        # KETENHUB_<SECRET>_FILE beside the plain variables (see hub.config.secret_files); the two
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
        default=(),
        description="Partners' own authorization servers whose tokens are accepted, each with "
        "the organisations it may act for",
    )
    jwks_timeout: float = Field(
        default=5.0,
        gt=0,
        le=30,
        description="Seconds a trusted issuer's key-set fetch may take in all (connect and read)",
    )
    jwks_failure_ttl: float = Field(
        default=10.0,
        ge=1,
        le=600,
        description="Seconds a failed key-set fetch is remembered before the issuer is tried again",
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
    # -- the web UI's sessions (hub/websessions, decision 0024) ------------------------------------
    session_idle: int = Field(
        default=900,
        ge=60,
        le=3600,
        description="Seconds a web session lives without use (15 minutes)",
    )
    session_lifetime: int = Field(
        default=8 * 3600,
        ge=900,
        le=24 * 3600,
        description="Seconds a web session lives at most from login, however used (8 hours)",
    )
    retention_interval: int = Field(
        default=3600,
        ge=0,
        le=86_400,
        description="Seconds between retention runs that crypto-shred expired documents; 0: off",
    )
    upload_expiry: int = Field(
        default=86_400,
        ge=60,
        le=7 * 86_400,
        description="Seconds an unfinished resumable (tus) upload lives from its creation before "
        "it expires and is swept with its parts (24 hours)",
    )

    # -- webhooks (hub/webhooks, decision 0033) ---------------------------------------------------
    webhook_poll_seconds: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="Seconds between the delivery worker's looks at the outbox; 0: no delivery",
    )
    webhook_timeout: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="Seconds a webhook receiver may take to connect, and again to answer",
    )
    webhook_retry_delays: tuple[float, ...] = Field(
        default=(5, 300, 1800, 7200, 18_000, 36_000, 36_000),
        min_length=1,
        max_length=20,
        description="JSON list of the seconds before each retry of a failed webhook (with 10 % "
        "jitter); given up after the last. Default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h",
    )
    webhook_expiring_interval: int = Field(
        default=3600,
        ge=0,
        le=86_400,
        description="Seconds between looks for shares ending within 7 days (share.expiring) "
        "and sweeps of messages finished 30 days ago; 0: off",
    )

    # -- serving (ketenhub serve, decision 0037) --------------------------------------------------
    workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Worker processes `ketenhub serve` runs (--workers overrides it); default "
        "the cores this process may use",
    )

    # -- what a request may cost (hub/web/limits.py, decision 0017) ----------------------------
    uploads_per_client: int = Field(
        default=32, ge=1, le=10_000, description="Uploads one client may run at once (429 beyond)"
    )
    uploads_total: int = Field(
        default=64, ge=1, le=10_000, description="Uploads the hub runs at once (503 beyond)"
    )
    body_idle_timeout: float = Field(
        default=30, gt=0, le=3600, description="Seconds a request body may send nothing (408)"
    )
    body_min_rate: int = Field(
        default=1024,
        ge=0,
        description="Bytes per second of waiting a request body must average after the grace "
        "period (408 below it); 0: no minimum",
    )
    body_rate_grace: float = Field(
        default=10, ge=0, le=3600, description="Seconds of waiting before the minimum rate applies"
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
    audit_refusal_interval: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds in which refusals of an unauthenticated source address after its "
        "first are counted into one summary event",
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
    def resolved_workers(self) -> int:
        """``workers``, or the cores this process may use (its CPU affinity, which a container's
        cpuset narrows)."""
        return self.workers if self.workers is not None else available_cores()

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
    def uses_s3(self) -> bool:
        """Whether anything (the object store or the checkpoint export) talks to S3."""
        export = self.audit_export_url or ""
        return self.s3_bucket is not None or export.startswith("s3://")

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
        return parse_proxy_networks(value)

    @model_validator(mode="after")
    def _check(self) -> Self:
        # The first problem found is the one reported: this order is part of the behaviour.
        for name, value in (
            ("KETENHUB_DATABASE_URL", self.database_url),
            ("KETENHUB_DATABASE_OWNER_URL", self.database_owner_url),
        ):
            if value is not None:
                parse_database_url(name, value.get_secret_value())
        if is_s3_storage(self.storage_url):
            self._check_s3_connection("an s3:// store")
        if is_s3_export(self.audit_export_url):
            self._check_s3_connection("an s3:// checkpoint export")
        check_oauth(self.issuer, self.trusted_issuers)
        if self.database_owner_url is not None:
            check_database_roles(self.resolved_database_url, self.resolved_migration_url)
        _ = self.resolved_metrics_address  # raises ValueError naming the variable
        if self.is_production:
            refuse_insecure(self)
        return self

    def _check_s3_connection(self, needed_by: str) -> None:
        check_s3_connection(
            needed_by,
            endpoint=self.s3_endpoint,
            access_key=self.s3_access_key,
            secret_key=self.s3_secret_key,
        )
