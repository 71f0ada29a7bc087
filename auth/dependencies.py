"""FastAPI dependencies that protect the API: who is calling, and may they do this?

The token is taken from the ``Authorization: Bearer`` header only. A token offered in the
query string is refused outright (it would end up in access logs and browser history), even
when a valid header is present too. Failures raise :class:`BearerError`, which the hub turns
into a 401 or 403 problem document with an RFC 6750 ``WWW-Authenticate`` header.

The validator lives on ``app.state.token_validator``; the hub puts it there at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from auth.scopes import Scope, format_scopes
from auth.tokens import InvalidToken, Principal, TokenValidator, UnvouchedOrganisation

REALM: Final = "ketenhub"


class BearerError(Exception):
    """A request without acceptable credentials (401) or without the needed scope (403)."""

    def __init__(
        self,
        status_code: int,
        description: str,
        *,
        error: str | None = None,
        scope: str | None = None,
        refused: Principal | None = None,
    ) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.description = description
        self.error = error
        self.scope = scope
        self.refused = refused
        """Who a validly signed token claimed to be, when that claim is what was refused (a
        partner issuer acting for an organisation outside its list): the hub records it."""

    @property
    def www_authenticate(self) -> str:
        parts = [f'realm="{REALM}"']
        if self.error:
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)


def _validator(request: Request) -> TokenValidator:
    validator: TokenValidator = request.app.state.token_validator
    return validator


# Declares the scheme in the OpenAPI description; the checks below are done by hand, so that
# each failure gets the RFC 6750 answer it deserves rather than FastAPI's generic 403.
_BEARER_SCHEME: Final = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT (RFC 9068), from POST /oauth/token",
    description="An access token from the hub's token endpoint, or a trusted partner issuer",
)


async def bearer_token(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER_SCHEME)],
) -> str:
    """The request's bearer token. ``async``, as it does nothing that blocks: FastAPI runs a
    plain ``def`` dependency in a worker thread, a hop per request (decision 0036)."""
    return _bearer_token(request)


def _bearer_token(request: Request) -> str:
    if "access_token" in request.query_params:
        raise BearerError(
            401,
            "access tokens are accepted only in the Authorization header",
            error="invalid_request",
        )
    header = request.headers.get("authorization")
    if header is None:
        # RFC 6750 §3.1: no error code when the request carried no credentials at all.
        raise BearerError(401, "this resource needs an access token")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise BearerError(401, "use the Bearer authentication scheme", error="invalid_request")
    return token


_VALIDATED: Final = "auth.validated"


def current_principal(request: Request, token: Annotated[str, Depends(bearer_token)]) -> Principal:
    """The principal of the request's token, validated once per request: a route that
    authenticates before it reads its body (:func:`authenticate`) is not validated again."""
    validated: tuple[str, Principal] | None = request.scope.get(_VALIDATED)
    if validated is not None and validated[0] == token:
        return validated[1]
    try:
        principal = _validator(request).validate(token)
    except UnvouchedOrganisation as exc:
        raise BearerError(
            401, exc.description, error="invalid_token", refused=exc.principal
        ) from None
    except InvalidToken as exc:
        raise BearerError(401, exc.description, error="invalid_token") from None
    request.scope[_VALIDATED] = (token, principal)
    return principal


def authenticate(request: Request) -> Principal:
    """:func:`current_principal` for code that runs before FastAPI solves a route's
    dependencies, so that a request is authenticated before its body is read."""
    return current_principal(request, _bearer_token(request))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_scopes(*needed: Scope) -> Callable[[Principal], Principal]:
    """A dependency that admits callers whose token carries every one of ``needed``."""
    wanted = frozenset(needed)

    def check(principal: CurrentPrincipal) -> Principal:
        if not wanted <= principal.scopes:
            raise BearerError(
                403,
                f"this needs the scope {format_scopes(set(wanted))}",
                error="insufficient_scope",
                scope=format_scopes(set(wanted)),
            )
        return principal

    return check


DocumentWriter = Annotated[Principal, Depends(require_scopes(Scope.DOCUMENTS_WRITE))]
DocumentReader = Annotated[Principal, Depends(require_scopes(Scope.DOCUMENTS_READ))]
ShareWriter = Annotated[Principal, Depends(require_scopes(Scope.SHARES_WRITE))]
AuditReader = Annotated[Principal, Depends(require_scopes(Scope.AUDIT_READ))]
Administrator = Annotated[Principal, Depends(require_scopes(Scope.ADMIN))]
