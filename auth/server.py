"""The OAuth 2.0 authorization server, on authlib's framework-neutral core.

authlib ships server integrations for Flask and Django only; this module is the small adapter
for the hub (a request object built from an already-parsed form, and responses handed back as
``(status, body, headers)``), and the assembly of the parts authlib leaves to the integrator.
Where authlib's defaults are unsafe for this hub those parts override them:

- token lifetime: authlib's client-credentials default is 10 days; here it is the configured
  lifetime, never more than :data:`~auth.server_config.MAX_LIFETIME` (1 hour)
  (:mod:`auth.grants`);
- audience: authlib's default ``aud`` is the client id; here it is the hub's API identifier
  (:mod:`auth.grants`);
- assertion replay: authlib leaves ``jti`` checking unimplemented; here every client
  assertion's ``jti`` is recorded in the database and accepted once, by every replica
  (:mod:`auth.client_auth`);
- algorithms: assertions are verified with RS256, PS256 or ES256 only (joserfc would refuse
  PS256 unless listed), and an assertion may expire at most
  :data:`~auth.client_auth.MAX_ASSERTION_AGE` ahead (:mod:`auth.client_auth`);
- no refresh tokens, no client_secret_post, no ``none`` authentication; ``client_secret_basic``
  is the hub's own, which refuses malformed credentials and answers an unknown client as a
  wrong secret (:mod:`auth.client_auth`);
- standing: a disabled client, or a client of a disabled organisation, is refused as unknown
  (``invalid_client``) at every endpoint, read from the database in the request's transaction
  (:meth:`HubAuthorizationServer.query_client`); a client whose registered scopes break the
  separation of duties (a registration from before the rule,
  :func:`auth.scopes.check_separation`) gets no token at all (``invalid_scope``,
  :mod:`auth.grants`).

The deployment's facts and the RFC 8414 metadata are :mod:`auth.server_config`; introspection
and revocation are :mod:`auth.token_endpoints`. A server is built per request around that
request's database session, as Polar does: registration is cheap and it keeps every query in
the request's transaction.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from sqlalchemy import delete
from sqlmodel import Session

from auth.client_auth import (
    Client,
    ClientAssertion,
    authenticate_client_secret_basic,
    is_client_id,
)
from auth.grants import AccessTokenIssuer, ClientCredentialsGrant
from auth.models import OAuthClient, RevokedToken, UsedAssertion
from auth.scopes import Scope
from auth.server_config import CLIENT_SECRET_BASIC, PRIVATE_KEY_JWT, ServerConfig
from auth.signing import SigningKeys
from auth.token_endpoints import Introspection, Revocation
from auth.tokens import TokenValidator

_PRUNE_INTERVAL: Final = 60.0


# -- the request adapter -----------------------------------------------------------------------


class FormPayload(OAuth2Payload):
    """An already-parsed ``application/x-www-form-urlencoded`` body, repeats kept."""

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class FormRequest(OAuth2Request):
    """An OAuth 2.0 request as authlib sees it, built from the hub's parsed request."""

    def __init__(
        self, *, method: str, uri: str, headers: Mapping[str, str], form: Sequence[tuple[str, str]]
    ) -> None:
        # Kept as given: authlib looks headers up as "Authorization", so the mapping must be
        # case-insensitive, as Starlette's is.
        super().__init__(method=method, uri=uri, headers=headers)
        self.payload = FormPayload(form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        payload = self.payload
        assert isinstance(payload, FormPayload)  # noqa: S101 - set in __init__, never replaced
        return payload.data


# -- the server ----------------------------------------------------------------------------------


class HubAuthorizationServer(AuthorizationServer):
    """authlib's authorization server, wired to the hub's database and keys."""

    def __init__(
        self,
        session: Session,
        config: ServerConfig,
        *,
        signing: SigningKeys,
        validator: TokenValidator,
        is_revoked: Callable[[str], bool],
        organisation_enabled: Callable[[str], bool],
        now: Callable[[], float] = time.time,
    ) -> None:
        """``organisation_enabled(code)`` reads the organisation's state in ``session``."""
        super().__init__(scopes_supported=[s.value for s in Scope])
        self._session = session
        self._config = config
        self._organisation_enabled = organisation_enabled
        self.register_grant(ClientCredentialsGrant)
        self.register_client_auth_method(CLIENT_SECRET_BASIC, authenticate_client_secret_basic)
        self.register_client_auth_method(PRIVATE_KEY_JWT, ClientAssertion(session, config, now=now))
        self.register_token_generator("default", AccessTokenIssuer(config, signing, now=now))
        self.register_endpoint(Introspection(validator, is_revoked))
        clock = lambda: datetime.fromtimestamp(now(), UTC)  # noqa: E731
        self.register_endpoint(Revocation(session, validator, is_revoked, clock=clock))

    def query_client(self, client_id: str) -> Client | None:
        row = self._session.get(OAuthClient, client_id) if is_client_id(client_id) else None
        if row is None or not row.enabled or not self._organisation_enabled(row.organisation):
            return None
        return Client(row, allow_client_secret=self._config.allow_client_secret)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Access tokens are self-contained JWTs: nothing to store."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal subscribers."""

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        return request

    def handle_response(
        self, status: int, body: Any, headers: Sequence[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)


def prune(session: Session, *, now: datetime) -> None:
    """Forget used assertions and revocations of tokens that expired anyway."""
    session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now))  # type: ignore[arg-type]
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))  # type: ignore[arg-type]


class Pruner:
    """Runs :func:`prune` at most once per interval per process."""

    def __init__(
        self, interval: float = _PRUNE_INTERVAL, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._last = float("-inf")

    def maybe_prune(self, session: Session, *, now: datetime) -> None:
        if self._monotonic() - self._last >= self._interval:
            self._last = self._monotonic()
            prune(session, now=now)
