"""What the authorization server is told about the deployment, and what it announces (RFC 8414).

Also the limits and client authentication methods every part of the server shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from auth.scopes import Scope
from auth.tokens import ACCEPTED_ALGORITHMS

MAX_LIFETIME: Final = 3600
MAX_PARAMETER_LENGTH: Final = 8192
PRIVATE_KEY_JWT: Final = "private_key_jwt"
CLIENT_SECRET_BASIC: Final = "client_secret_basic"  # noqa: S105 - a method name
IN_PROCESS: Final = "in_process"
"""The web UI's own client authenticates by being called inside the hub's process (its
backend-for-frontend): no credential exists to steal, and no HTTP request can claim this method,
so it is never announced (decision 0023)."""
REFRESH_LIFETIME: Final = 8 * 3600
"""A login's refresh tokens end this many seconds after the login, however often they rotate:
the web session's absolute lifetime."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What the authorization server needs to know about the deployment."""

    issuer: str
    audience: str
    token_lifetime: int
    allow_client_secret: bool
    purpose_uri: Callable[[str], str]
    refresh_lifetime: int = REFRESH_LIFETIME
    """Seconds a login's refresh-token family lives (the web session's absolute lifetime)."""

    def __post_init__(self) -> None:
        if not 60 <= self.token_lifetime <= MAX_LIFETIME:
            raise ValueError(f"token lifetime must be 60-{MAX_LIFETIME} seconds")
        if not self.token_lifetime <= self.refresh_lifetime <= 24 * 3600:
            raise ValueError("refresh lifetime must be from the token lifetime to 24 hours")

    @property
    def refresh_lifetime_delta(self) -> timedelta:
        return timedelta(seconds=self.refresh_lifetime)

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/oauth/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oauth/token"

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        methods = [PRIVATE_KEY_JWT] + ([CLIENT_SECRET_BASIC] if self.allow_client_secret else [])
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": f"{self.issuer}/oauth/jwks",
            "introspection_endpoint": f"{self.issuer}/oauth/introspect",
            "revocation_endpoint": f"{self.issuer}/oauth/revoke",
            "scopes_supported": sorted(s.value for s in Scope),
            # Systems use client credentials; people log in to a web client (the hub's own UI)
            # with the authorization code grant, PKCE S256 required (decision 0023).
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": list(ACCEPTED_ALGORITHMS),
            "introspection_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_signing_alg_values_supported": list(ACCEPTED_ALGORITHMS),
            "revocation_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_signing_alg_values_supported": list(ACCEPTED_ALGORITHMS),
        }
