"""The OAuth 2.0 settings that need checking: the hub's issuer and the partners' issuers whose
tokens it accepts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from auth.scopes import Scope
from hub.config.network import is_loopback

_SCOPES: Final = frozenset(s.value for s in Scope)


class TrustedIssuerSettings(BaseModel):
    """One entry of ``KETENHUB_TRUSTED_ISSUERS`` (a JSON list of these)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str
    jwks_url: str
    organisation_claim: str = "organisation"
    allowed_scopes: tuple[str, ...]
    organisations: tuple[str, ...] = ()
    """The organisation codes this issuer may act for. Required (checked by
    :func:`check_oauth`, with a message naming the issuer): there is no default "any"."""


def check_oauth(issuer: str, trusted_issuers: Sequence[TrustedIssuerSettings]) -> None:
    """The issuer is an http(s) base URL, on TLS unless it is this machine; every trusted
    issuer grants only scopes the hub knows, names the organisations it may act for, and none
    is the hub itself."""
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("KETENHUB_ISSUER must be an http(s) URL")
    if parts.query or parts.fragment or issuer.endswith("/"):
        raise ValueError("KETENHUB_ISSUER must have no query, fragment or trailing slash")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        # OAuth 2.0 requires TLS; plain http only for a hub on this machine (demo, tests).
        raise ValueError("KETENHUB_ISSUER must be https://, or http:// on a loopback address")
    for trusted in trusted_issuers:
        unknown = set(trusted.allowed_scopes) - _SCOPES
        if unknown:
            raise ValueError(f"trusted issuer {trusted.issuer}: unknown scopes {unknown}")
        if trusted.issuer == issuer:
            raise ValueError("a trusted issuer cannot be the hub itself")
        if not trusted.organisations or not all(trusted.organisations):
            raise ValueError(
                f"trusted issuer {trusted.issuer}: name the organisations it may act for "
                '("organisations": ["CODE", ...]); there is no default that lets it act for any'
            )
