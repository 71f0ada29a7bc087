"""Wiring the authorization server to the hub: keys, revocation list, per-request servers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from auth.models import RevokedToken, SigningKey
from auth.server import FormRequest, HubAuthorizationServer, Pruner, ServerConfig
from auth.signing import SigningKeys
from auth.tokens import TokenValidator
from hub import db
from storage.keys import KeyProvider, WrappedKey

OAuthResponse = tuple[int, Any, list[tuple[str, str]]]


class KeyRingSealer:
    """Seals the hub's signing keys under the KEK ring (``auth.signing.Sealer``)."""

    def __init__(self, keys: KeyProvider) -> None:
        self._keys = keys

    def seal(self, secret: bytes, *, purpose: str) -> tuple[str, bytes]:
        sealed = self._keys.seal(secret, purpose=purpose)
        return sealed.kek_id, sealed.blob

    def unseal(self, kek_id: str, sealed: bytes, *, purpose: str) -> bytes:
        return self._keys.unseal(WrappedKey(kek_id, sealed), purpose=purpose)


def revocation_check(engine: Engine) -> Callable[[str], bool]:
    """A check every replica shares: the database's revocation list, read on every call."""

    def is_revoked(jti: str) -> bool:
        with Session(engine) as session:
            return session.get(RevokedToken, jti) is not None

    return is_revoked


class OAuthService:
    """Builds an authorization server for each request around the request's session."""

    def __init__(
        self,
        *,
        config: ServerConfig,
        signing: SigningKeys,
        validator: TokenValidator,
        is_revoked: Callable[[str], bool],
    ) -> None:
        self.config = config
        self.signing = signing
        self.validator = validator
        self._is_revoked = is_revoked
        self._pruner = Pruner()

    def _server(self, session: Session) -> HubAuthorizationServer:
        return HubAuthorizationServer(
            session,
            self.config,
            signing=self.signing,
            validator=self.validator,
            is_revoked=self._is_revoked,
        )

    def _request(
        self, path: str, headers: Mapping[str, str], form: Sequence[tuple[str, str]]
    ) -> FormRequest:
        # The URI authlib sees is the public one: behind a TLS-terminating proxy the hub
        # itself is reached over http, and authlib refuses non-https URIs.
        return FormRequest(method="POST", uri=self.config.issuer + path, headers=headers, form=form)

    def token(
        self, session: Session, headers: Mapping[str, str], form: Sequence[tuple[str, str]]
    ) -> OAuthResponse:
        self._pruner.maybe_prune(session, now=datetime.now(UTC))
        response: OAuthResponse = self._server(session).create_token_response(
            self._request("/oauth/token", headers, form)
        )
        return response

    def introspect(
        self, session: Session, headers: Mapping[str, str], form: Sequence[tuple[str, str]]
    ) -> OAuthResponse:
        response: OAuthResponse = self._server(session).create_endpoint_response(
            "introspection", self._request("/oauth/introspect", headers, form)
        )
        return response

    def revoke(
        self, session: Session, headers: Mapping[str, str], form: Sequence[tuple[str, str]]
    ) -> OAuthResponse:
        response: OAuthResponse = self._server(session).create_endpoint_response(
            "revocation", self._request("/oauth/revoke", headers, form)
        )
        return response


def reseal_signing_keys(session: Session, sealer: KeyRingSealer, current_kek: str) -> int:
    """Move live signing keys to the current KEK, as ``keys rewrap`` does for data keys."""
    moved = 0
    statement = select(SigningKey).where(
        col(SigningKey.retired_at).is_(None), SigningKey.kek_id != current_kek
    )
    for key in session.exec(statement).all():
        purpose = f"oauth-signing-key:{key.kid}"
        secret = sealer.unseal(key.kek_id, key.sealed_private_jwk, purpose=purpose)
        key.kek_id, key.sealed_private_jwk = sealer.seal(secret, purpose=purpose)
        session.add(key)
        moved += 1
    session.flush()
    return moved


def live_signing_keys_under(session: Session, kek_id: str) -> int:
    statement = select(func.count()).where(
        col(SigningKey.retired_at).is_(None), SigningKey.kek_id == kek_id
    )
    return session.exec(statement).one()


def make_signing_keys(engine: Engine, keys: KeyProvider, *, alg: str) -> SigningKeys:
    return SigningKeys(sessions=lambda: db.transaction(engine), sealer=KeyRingSealer(keys), alg=alg)
