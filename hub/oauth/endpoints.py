"""``/.well-known/oauth-authorization-server``, ``/oauth/jwks``, token, introspect, revoke.

Errors here are OAuth's own JSON (RFC 6749 §5.2), never problem+json: OAuth clients parse
``{"error": …}``. The form body is read with a size limit and parsed strictly before authlib
sees it, so a malformed or oversized body is ``invalid_request``, never a 500: not UTF-8, a
parameter given twice (RFC 6749 §3.1, §3.2), a control character such as NUL in a name or value
(no OAuth parameter has one, RFC 6749 Appendix A), HTTP Basic and a client assertion together
(RFC 6749 §2.3). An error names a parameter only if it is one of OAuth's: nothing else a caller
sends is echoed. A client that goes away before its body is complete is no error of the hub:
one line in the log, and nobody to answer.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from auth.server_config import MAX_PARAMETER_LENGTH
from hub.core.errors import OAuthRequestError
from hub.tokens.service import OAuthCall, OAuthResponse
from hub.trail.context import ContextDep
from hub.web.deps import ServicesDep, SessionDep
from hub.web.problems import oauth_error_responses

MAX_FORM_BYTES: Final = 64 * 1024
FORM_TYPE: Final = "application/x-www-form-urlencoded"
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_OAUTH_PARAMETERS: Final = frozenset(
    {
        "grant_type",
        "scope",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "token",
        "token_type_hint",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
    }
)

logger = logging.getLogger(__name__)

router = APIRouter(tags=["oauth"])


async def oauth_form(request: Request) -> list[tuple[str, str]]:
    """The urlencoded body as (name, value) pairs, read with a limit and parsed strictly."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise OAuthRequestError(f"the body must be {FORM_TYPE}")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise OAuthRequestError("the request body is too large", status_code=413)
    except ClientDisconnect:
        # Nobody is left to answer; the answer below goes nowhere, and is not a server error.
        logger.info("client disconnected before its body was complete: %s", request.url.path)
        raise OAuthRequestError("the request body is incomplete") from None
    try:
        form = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(body),
            max_num_fields=32,
        )
    except (UnicodeDecodeError, ValueError):
        raise OAuthRequestError("the request body is not a valid form") from None
    seen: set[str] = set()
    for name, value in form:
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise OAuthRequestError("the request body has a control character")
        if len(value) > MAX_PARAMETER_LENGTH:
            raise OAuthRequestError(f"{_parameter(name)} is too long")
        if name in seen:
            raise OAuthRequestError(f"{_parameter(name)} is given more than once")
        seen.add(name)
    if "authorization" in request.headers and seen & {"client_assertion", "client_assertion_type"}:
        # RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
        raise OAuthRequestError("the client uses more than one authentication method")
    return form


def _parameter(name: str) -> str:
    return f"the parameter {name!r}" if name in _OAUTH_PARAMETERS else "a parameter"


OAuthForm = Annotated[list[tuple[str, str]], Depends(oauth_form)]


def _respond(response: OAuthResponse) -> JSONResponse:
    status, body, headers = response
    merged = {**dict(headers), **_NO_STORE}
    return JSONResponse(body, status_code=status, headers=merged)


_FORM_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {FORM_TYPE: {"schema": {"type": "object", "additionalProperties": True}}},
    }
}


_CLIENT_AUTH: Final = (
    "Client authentication: `private_key_jwt` (RFC 7523), an assertion signed RS256, PS256 or "
    "ES256 with `iss` = `sub` = the client id, `aud` = the issuer (advised), the token "
    "endpoint or this endpoint's URL, `exp` at most 60 minutes ahead and a `jti` never used "
    "before; or `client_secret_basic` where the deployment enables it. A client's keys are "
    "registered, or fetched from its `jwks_uri` (docs/decisions/0029)."
)
_HINT: Final = " An unknown or wrong `token_type_hint` is ignored and the search goes on."


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 metadata")
def metadata(services: ServicesDep) -> JSONResponse:
    return JSONResponse(services.oauth.config.metadata(), headers={"Cache-Control": "max-age=300"})


class JWKSetResponse(JSONResponse):
    media_type = "application/jwk-set+json"  # RFC 7517 §8.5.1


@router.get(
    "/oauth/jwks",
    summary="The hub's token signing keys (current and previous)",
    response_class=JWKSetResponse,
)
def jwks(services: ServicesDep) -> JWKSetResponse:
    return JWKSetResponse(services.oauth.signing.jwks(), headers={"Cache-Control": "max-age=60"})


@router.post(
    "/oauth/token",
    summary="Token endpoint (client credentials, authorization code with PKCE, refresh token)",
    description=_CLIENT_AUTH
    + " A missing `grant_type` is `invalid_request`; one the hub does not offer is "
    "`unsupported_grant_type`.",
    openapi_extra=_FORM_BODY,
    responses=oauth_error_responses(),
)
def token(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    form: OAuthForm,
    context: ContextDep,
) -> JSONResponse:
    call = OAuthCall(request.headers, form)
    return _respond(services.oauth.token(session, call, audit=services.audit, context=context))


@router.post(
    "/oauth/introspect",
    summary="RFC 7662 introspection",
    description=_CLIENT_AUTH + _HINT,
    openapi_extra=_FORM_BODY,
    responses=oauth_error_responses(),
)
def introspect(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    form: OAuthForm,
    context: ContextDep,
) -> JSONResponse:
    call = OAuthCall(request.headers, form)
    return _respond(services.oauth.introspect(session, call, audit=services.audit, context=context))


@router.post(
    "/oauth/revoke",
    summary="RFC 7009 revocation",
    description=_CLIENT_AUTH + _HINT,
    openapi_extra=_FORM_BODY,
    responses=oauth_error_responses(),
)
def revoke(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    form: OAuthForm,
    context: ContextDep,
) -> JSONResponse:
    call = OAuthCall(request.headers, form)
    return _respond(services.oauth.revoke(session, call, audit=services.audit, context=context))
