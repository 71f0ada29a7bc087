"""What the authorization server is told about the deployment, and what it announces (RFC 8414).

Also the limits and client authentication methods every part of the server shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from auth.scopes import Scope
from auth.tokens import ACCEPTED_ALGORITHMS

MAX_LIFETIME: Final = 3600
MAX_PARAMETER_LENGTH: Final = 8192
PRIVATE_KEY_JWT: Final = "private_key_jwt"
CLIENT_SECRET_BASIC: Final = "client_secret_basic"  # noqa: S105 - a method name


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What the authorization server needs to know about the deployment."""

    issuer: str
    audience: str
    token_lifetime: int
    allow_client_secret: bool
    purpose_uri: Callable[[str], str]

    def __post_init__(self) -> None:
        if not 60 <= self.token_lifetime <= MAX_LIFETIME:
            raise ValueError(f"token lifetime must be 60-{MAX_LIFETIME} seconds")

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oauth/token"

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        methods = [PRIVATE_KEY_JWT] + ([CLIENT_SECRET_BASIC] if self.allow_client_secret else [])
        return {
            "issuer": self.issuer,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": f"{self.issuer}/oauth/jwks",
            "introspection_endpoint": f"{self.issuer}/oauth/introspect",
            "revocation_endpoint": f"{self.issuer}/oauth/revoke",
            "scopes_supported": sorted(s.value for s in Scope),
            # Partner systems use client credentials only; the web UI's authorization code
            # flow (with PKCE) is added with the UI, and then announced here.
            "response_types_supported": [],
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": list(ACCEPTED_ALGORITHMS),
            "introspection_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_signing_alg_values_supported": list(ACCEPTED_ALGORITHMS),
            "revocation_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_signing_alg_values_supported": list(ACCEPTED_ALGORITHMS),
        }
