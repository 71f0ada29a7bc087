"""What production refuses in the settings: what is acceptable on a laptop but not in a
deployment.

Plain-text connections to other hosts (S3, PostgreSQL, a partner's JWKS), an issuer that is not
the hub's public https:// URL, a proxy list that trusts everyone, client secrets, and metrics
served without a token beyond this machine. Every problem found is named in one error, so an
operator fixes them in one go. :mod:`hub.cli.production` checks at run time what settings alone
cannot show.

The rules read the settings through :class:`DeploymentSettings`, the part of
:class:`~hub.config.settings.Settings` they need, so that this module need not import the model
that calls it.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from hub.config.network import ListenAddress, ProxyNetwork, is_loopback
from hub.config.oauth import TrustedIssuerSettings


class InsecureSettingsError(ValueError):
    """A setting that is acceptable on a laptop but not in a deployment."""


class DeploymentSettings(Protocol):
    """The settings the production rules read."""

    @property
    def uses_s3(self) -> bool: ...
    @property
    def s3_endpoint(self) -> str | None: ...
    @property
    def resolved_database_url(self) -> str: ...
    @property
    def database_owner_url(self) -> SecretStr | None: ...
    @property
    def resolved_migration_url(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def trusted_proxies(self) -> Sequence[ProxyNetwork]: ...
    @property
    def trusted_issuers(self) -> Sequence[TrustedIssuerSettings]: ...
    @property
    def client_secret_auth(self) -> bool | None: ...
    @property
    def resolved_metrics_address(self) -> ListenAddress | None: ...
    @property
    def private_network_hosts(self) -> Set[str]: ...


def is_private(settings: DeploymentSettings, host: str | None) -> bool:
    """Whether ``host`` is this machine, or on a network the operator declared private."""
    return is_loopback(host) or (host is not None and host in settings.private_network_hosts)


def _database_uses_tls(settings: DeploymentSettings, url: str) -> bool:
    """Whether a connection to ``url`` is encrypted, or stays on a trusted network."""
    db = urlsplit(url)
    if not db.scheme.startswith("postgresql") or is_private(settings, db.hostname):
        return True
    sslmode = parse_qs(db.query).get("sslmode", [""])[-1]
    return sslmode in ("require", "verify-ca", "verify-full")


def refuse_insecure(settings: DeploymentSettings) -> None:
    """Raise :class:`InsecureSettingsError` naming every production rule ``settings`` break."""
    problems: list[str] = []
    if settings.uses_s3:
        endpoint = urlsplit(settings.s3_endpoint or "")
        if endpoint.scheme != "https" and not is_private(settings, endpoint.hostname):
            problems.append("KETENHUB_S3_ENDPOINT uses plain http to another host; use https")
    databases = [("KETENHUB_DATABASE_URL", settings.resolved_database_url)]
    if settings.database_owner_url is not None:
        databases.append(("KETENHUB_DATABASE_OWNER_URL", settings.resolved_migration_url))
    problems.extend(
        f"{name} reaches another host without TLS; add sslmode=verify-full"
        for name, url in databases
        if not _database_uses_tls(settings, url)
    )
    issuer = urlsplit(settings.issuer)
    if issuer.scheme != "https" or is_loopback(issuer.hostname):
        # Partners reach the hub at its issuer, and the audit key is named after it: a
        # loopback default would fix "127.0.0.1:8000/audit" into every checkpoint.
        problems.append(
            "KETENHUB_ISSUER must be the hub's public https:// URL, not "
            f"{issuer.scheme}://{issuer.netloc}"
        )
    problems.extend(
        f"KETENHUB_TRUSTED_PROXIES: {network} trusts every address, so any client could "
        "choose the address the audit trail records"
        for network in settings.trusted_proxies
        if network.prefixlen == 0
    )
    problems.extend(
        f"the JWKS of trusted issuer {t.issuer} must use https"
        for t in settings.trusted_issuers
        if urlsplit(t.jwks_url).scheme != "https"
    )
    if settings.client_secret_auth:
        problems.append("client_secret_basic is for demos; use private_key_jwt")
    metrics = settings.resolved_metrics_address
    if metrics is not None and not is_private(settings, metrics.host):
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
