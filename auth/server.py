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
- client keys: registered as a JWK Set, or fetched from the client's ``jwks_uri`` with a
  deadline, a size cap and a bounded cache (:class:`~auth.client_auth.ClientKeySets`);
- no client_secret_post, no ``none`` authentication; ``client_secret_basic`` is the hub's own,
  which refuses malformed credentials and answers an unknown client as a wrong secret
  (:mod:`auth.client_auth`); the web UI's own client authenticates in-process only
  (:data:`~auth.server_config.IN_PROCESS`);
- people: the authorization code grant with mandatory PKCE S256 (:mod:`auth.code_grant`) and
  refresh tokens that rotate, for people's logins only (:mod:`auth.refresh_grant`); the
  authorization endpoint's protocol is :meth:`HubAuthorizationServer.validate_authorization`
  and :meth:`HubAuthorizationServer.issue_code`, whose pages the hub draws;
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
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    InvalidRequestError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
)
from sqlalchemy import delete
from sqlmodel import Session

from auth import families
from auth.client_auth import (
    Client,
    ClientAssertion,
    ClientKeySets,
    authenticate_client_secret_basic,
    authenticate_in_process,
    is_client_id,
)
from auth.code_grant import (
    CODE_LIFETIME,
    AuthorizationCodeGrant,
    AuthorizationRequest,
    AuthorizeError,
    People,
    S256Challenge,
    redirect_with,
)
from auth.grants import AccessTokenIssuer, ClientCredentialsGrant
from auth.models import AuthorizationCode, OAuthClient, RefreshToken, RevokedToken, UsedAssertion
from auth.people import Person
from auth.refresh_grant import RefreshTokenGrant
from auth.scopes import Scope, format_scopes, parse_scopes
from auth.server_config import (
    CLIENT_SECRET_BASIC,
    IN_PROCESS,
    PRIVATE_KEY_JWT,
    REFRESH_LIFETIME,
    ServerConfig,
)
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
    """An OAuth 2.0 request as authlib sees it, built from the hub's parsed request: the body of
    a ``POST``, or the query of ``GET /oauth/authorize``.

    ``in_process_client`` names the web UI's client when the hub's own backend-for-frontend
    makes the request in-process; a request built from HTTP never sets it (decision 0023).
    """

    def __init__(
        self,
        *,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        form: Sequence[tuple[str, str]],
        in_process_client: str | None = None,
    ) -> None:
        # Kept as given: authlib looks headers up as "Authorization", so the mapping must be
        # case-insensitive, as Starlette's is.
        super().__init__(method=method, uri=uri, headers=headers)
        self.payload = FormPayload(form)
        self.in_process_client = in_process_client

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
        people: People,
        client_keys: ClientKeySets,
        now: Callable[[], float] = time.time,
    ) -> None:
        """``organisation_enabled(code)`` reads the organisation's state in ``session``, and
        ``people(user_id)`` the person's; ``client_keys`` are the process's cache of key sets
        fetched from clients' ``jwks_uri``."""
        super().__init__(scopes_supported=[s.value for s in Scope])
        self.session = session
        self.config = config
        self.people = people
        self._organisation_enabled = organisation_enabled
        self._clock = now
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(AuthorizationCodeGrant, [S256Challenge(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_client_auth_method(CLIENT_SECRET_BASIC, authenticate_client_secret_basic)
        self.register_client_auth_method(
            PRIVATE_KEY_JWT,
            ClientAssertion(session, config, now=now, client_keys=client_keys),
        )
        self.register_client_auth_method(IN_PROCESS, authenticate_in_process)
        self.register_token_generator("default", AccessTokenIssuer(config, signing, now=now))
        self.register_endpoint(Introspection(validator, is_revoked))
        self.register_endpoint(Revocation(session, validator, is_revoked, clock=self.now))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def create_token_response(self, request: Any = None) -> Any:
        """authlib answers a missing ``grant_type`` as ``unsupported_grant_type``; RFC 6749
        §5.2 calls a missing required parameter ``invalid_request``, and a client's library
        shows that as its own mistake rather than the server's."""
        if isinstance(request, FormRequest) and not request.form.get("grant_type"):
            error = InvalidRequestError(description="The grant_type parameter is missing.")
            return self.handle_error_response(request, error)
        return super().create_token_response(request)

    def query_client(self, client_id: str) -> Client | None:
        row = self.session.get(OAuthClient, client_id) if is_client_id(client_id) else None
        if row is None or not row.enabled or not self._organisation_enabled(row.organisation):
            return None
        return Client(row, allow_client_secret=self.config.allow_client_secret)

    # -- the authorization endpoint's protocol (RFC 6749 §4.1.1-4.1.2) -------------------------

    def validate_authorization(self, request: FormRequest) -> AuthorizationRequest:
        """``GET /oauth/authorize``'s query (``request.form``), checked before anyone logs in;
        raises :class:`AuthorizeError`."""
        try:
            grant = self.get_consent_grant(request)
        except OAuth2Error as error:
            raise self._authorize_error(error, request.payload.state) from None
        payload = grant.request.payload
        return AuthorizationRequest(
            client_id=grant.request.client.get_client_id(),
            redirect_uri=str(grant.redirect_uri),
            scope=str(grant.request.scope or ""),
            state=str(payload.state),
            code_challenge=str(payload.data["code_challenge"]),
        )

    def issue_code(self, request: AuthorizationRequest, person: Person) -> str:
        """Store a code for ``person`` (who has just logged in) and answer the URL to send the
        browser to: the redirect URI with ``code``, ``state`` and ``iss`` (RFC 9207). Raises
        :class:`AuthorizeError` when the client went away meanwhile, or the person holds none of
        the scopes asked for."""
        client = self.query_client(request.client_id)
        if client is None or not client.check_redirect_uri(request.redirect_uri):
            raise AuthorizeError(
                "invalid_client", "The client is unknown or disabled.", location=None
            )
        scope = parse_scopes(request.scope) & client.scopes & person.scopes
        if not scope:
            raise AuthorizeError(
                "access_denied",
                "The person holds none of the scopes asked for.",
                location=self._error_location(request.redirect_uri, "access_denied", request.state),
            )
        code, now = families.new_token(), self.now()
        self.session.add(
            AuthorizationCode(
                code_hash=families.hash_token(code),
                client_id=request.client_id,
                user_id=person.user_id,
                redirect_uri=request.redirect_uri,
                scope=format_scopes(set(scope)),
                code_challenge=request.code_challenge,
                created_at=now,
                expires_at=now + timedelta(seconds=CODE_LIFETIME),
            )
        )
        self.session.flush()
        return redirect_with(
            request.redirect_uri,
            [("code", code), ("state", request.state), ("iss", self.config.issuer)],
        )

    def _authorize_error(self, error: OAuth2Error, state: str | None) -> AuthorizeError:
        description = str(error.description or error.error)
        if error.redirect_uri is None:
            return AuthorizeError(str(error.error), description, location=None)
        return AuthorizeError(
            str(error.error),
            description,
            location=self._error_location(str(error.redirect_uri), str(error.error), state),
        )

    def _error_location(self, redirect_uri: str, error: str, state: str | None) -> str:
        params = [("error", error)]
        if state:
            params.append(("state", state))
        params.append(("iss", self.config.issuer))
        return redirect_with(redirect_uri, params)

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
    """Forget used assertions and revocations of tokens that expired anyway, refresh tokens of
    ended logins, and codes once no login they could have started can be alive (a replayed
    code must still find what it issued)."""
    session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now))  # type: ignore[arg-type]
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))  # type: ignore[arg-type]
    session.execute(delete(RefreshToken).where(RefreshToken.expires_at < now))  # type: ignore[arg-type]
    forgotten = now - timedelta(seconds=REFRESH_LIFETIME)
    session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at < forgotten))  # type: ignore[arg-type]


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
