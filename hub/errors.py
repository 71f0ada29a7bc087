"""The hub's error family and its RFC 9457 ``application/problem+json`` responses.

Domain code raises a :class:`HubError` subclass; it never raises ``HTTPException``. One set of
handlers, installed by :func:`install_handlers`, turns every error into a problem document:
hub errors, request validation errors, Starlette's own 404/405 (a 405's ``Allow`` lists every
method the path supports: :mod:`hub.methods`), errors from ``storage``, and anything unexpected
(500, with no detail beyond a reference the logs carry).

Exception tree::

    HubError                       (500 unless a subclass says otherwise)
    ├── BadRequest                 400
    ├── Forbidden                  403  (visible, but this action is not allowed)
    ├── NotFound                   404  (also for what exists but the caller may not see)
    ├── Conflict                   409
    ├── PreconditionFailed         412  (If-Match)
    ├── PayloadTooLarge            413
    ├── UnsupportedMediaType       415
    ├── RangeNotSatisfiable        416
    ├── Unprocessable              422
    └── ServiceUnavailable         503
        └── AuditUnavailable       503  (nothing is done that cannot be recorded)
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, Final, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from auth.dependencies import BearerError
from hub.config import API_VERSION
from hub.methods import allowed_methods
from storage.errors import IntegrityError, StorageError, StoreUnavailable

PROBLEM_JSON: Final = "application/problem+json"
PROBLEM_TYPE_BASE: Final = "urn:ketenhub:problem:"

logger = logging.getLogger(__name__)


class HubError(Exception):
    """An error the hub answers with a problem document."""

    default_status: ClassVar[int] = HTTPStatus.INTERNAL_SERVER_ERROR
    slug: ClassVar[str] = "internal-error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code: int = status_code or self.default_status
        self.extra: Mapping[str, Any] = extra or {}
        self.headers: Mapping[str, str] = headers or {}


class BadRequest(HubError):
    default_status = HTTPStatus.BAD_REQUEST
    slug = "bad-request"


class Forbidden(HubError):
    default_status = HTTPStatus.FORBIDDEN
    slug = "forbidden"


class NotFound(HubError):
    default_status = HTTPStatus.NOT_FOUND
    slug = "not-found"


class Conflict(HubError):
    default_status = HTTPStatus.CONFLICT
    slug = "conflict"


class PreconditionFailed(HubError):
    default_status = HTTPStatus.PRECONDITION_FAILED
    slug = "precondition-failed"


class PayloadTooLarge(HubError):
    default_status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    slug = "payload-too-large"


class UnsupportedMediaType(HubError):
    default_status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    slug = "unsupported-media-type"


class RangeNotSatisfiable(HubError):
    default_status = HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE
    slug = "range-not-satisfiable"


class Unprocessable(HubError):
    default_status = HTTPStatus.UNPROCESSABLE_ENTITY
    slug = "unprocessable"


class OAuthRequestError(Exception):
    """A request the OAuth endpoints refuse before authlib sees it (``invalid_request``)."""

    def __init__(self, description: str, *, status_code: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.status_code = status_code


class ServiceUnavailable(HubError):
    default_status = HTTPStatus.SERVICE_UNAVAILABLE
    slug = "service-unavailable"


class AuditUnavailable(ServiceUnavailable):
    """The audit trail could not be written, so the action it would record was not done."""

    slug = "audit-unavailable"


def problem_response(
    *,
    status: int,
    title: str,
    detail: str | None = None,
    type_: str = "about:blank",
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem document. ``API-Version`` is set here too, for the 500 path."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update(extra or {})
    return JSONResponse(
        body,
        status_code=status,
        media_type=PROBLEM_JSON,
        headers={"API-Version": API_VERSION, "Cache-Control": "no-store", **(headers or {})},
    )


def _is_oauth(request: Request) -> bool:
    """``/oauth/*`` answers OAuth's error JSON (RFC 6749 §5.2), the rest problem+json."""
    return request.url.path.startswith("/oauth/")


def oauth_error_response(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"API-Version": API_VERSION, "Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _hub_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(HubError, exc)  # registered for this class only
    if _is_oauth(request):
        error = "temporarily_unavailable" if exc.status_code == 503 else "server_error"
        return oauth_error_response(exc.status_code, error, exc.message)
    return problem_response(
        status=exc.status_code,
        title=_phrase(exc.status_code),
        detail=exc.message,
        type_=PROBLEM_TYPE_BASE + exc.slug,
        instance=request.url.path,
        extra=exc.extra,
        headers=exc.headers,
    )


def _describe_location(location: Sequence[int | str]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(location[0] if location else "request")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(RequestValidationError, exc)  # registered for this class only
    if _is_oauth(request):
        return oauth_error_response(400, "invalid_request", "the request is malformed")
    # Only the location and message of each error: pydantic's "input" echoes what the caller
    # sent, which may be personal data (a v-number) and must not be reflected into logs.
    errors = [
        {"location": list(error.get("loc", ())), "message": error.get("msg", "invalid")}
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"location": [], "message": "invalid request"}
    return problem_response(
        status=HTTPStatus.UNPROCESSABLE_ENTITY,
        title="Unprocessable Content",
        detail=f"{_describe_location(first['location'])}: {first['message']}",
        type_=PROBLEM_TYPE_BASE + "validation",
        instance=request.url.path,
        extra={"errors": errors},
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(StarletteHTTPException, exc)  # registered for this class only
    headers = dict(exc.headers or {})
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        allowed = allowed_methods(request.app.router.routes, request.scope)
        if allowed:  # else the framework's own answer stands (a Mount's, say)
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
            headers["Allow"] = ", ".join(allowed)
    if _is_oauth(request):
        response = oauth_error_response(
            exc.status_code, "invalid_request", _phrase(exc.status_code)
        )
        response.headers.update(headers)
        return response
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == HTTPStatus.NOT_FOUND:
        detail = "no such resource"
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED and "Allow" in headers:
        detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}"
    return problem_response(
        status=exc.status_code,
        title=_phrase(exc.status_code),
        detail=detail,
        instance=request.url.path,
        headers=headers,
    )


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(StorageError, exc)  # registered for this class only
    reference = secrets.token_hex(8)
    if _is_oauth(request):
        # A signing key that cannot be unsealed, for example: the client needs OAuth's JSON.
        logger.error("storage error at the OAuth endpoint (ref %s): %s", reference, exc)
        return oauth_error_response(500, "server_error", f"internal error (reference {reference})")
    if isinstance(exc, StoreUnavailable):
        logger.warning("object store unavailable (ref %s): %s", reference, exc)
        return problem_response(
            status=HTTPStatus.SERVICE_UNAVAILABLE,
            title="Service Unavailable",
            detail=f"the object store is unavailable; try again later (reference {reference})",
            type_=PROBLEM_TYPE_BASE + "store-unavailable",
            instance=request.url.path,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, IntegrityError):
        logger.error("stored content failed authentication (ref %s)", reference)
    else:
        logger.error("storage error (ref %s): %s", reference, exc)
    return problem_response(
        status=HTTPStatus.INTERNAL_SERVER_ERROR,
        title="Internal Server Error",
        detail=f"stored content could not be served (reference {reference})",
        type_=PROBLEM_TYPE_BASE + "storage",
        instance=request.url.path,
    )


async def _oauth_request_error(_request: Request, exc: Exception) -> JSONResponse:
    exc = cast(OAuthRequestError, exc)  # registered for this class only
    return oauth_error_response(exc.status_code, "invalid_request", exc.description)


async def _bearer_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(BearerError, exc)  # registered for this class only
    return problem_response(
        status=exc.status_code,
        title=_phrase(exc.status_code),
        detail=exc.description,
        type_=PROBLEM_TYPE_BASE
        + ("insufficient-scope" if exc.status_code == 403 else "unauthorized"),
        instance=request.url.path,
        headers={"WWW-Authenticate": exc.www_authenticate},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    reference = secrets.token_hex(8)
    logger.error(
        "unhandled error (ref %s) on %s %s",
        reference,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    if _is_oauth(request):
        return oauth_error_response(
            500, "server_error", f"unexpected error (reference {reference})"
        )
    return problem_response(
        status=HTTPStatus.INTERNAL_SERVER_ERROR,
        title="Internal Server Error",
        detail=f"an unexpected error occurred (reference {reference})",
        type_=PROBLEM_TYPE_BASE + "internal-error",
        instance=request.url.path,
    )


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(BearerError, _bearer_error)
    app.add_exception_handler(OAuthRequestError, _oauth_request_error)
    app.add_exception_handler(Exception, _unexpected)


# -- OpenAPI: what the error answers look like ---------------------------------------------------

_PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For 422: each invalid input, by location",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
_OAUTH_ERROR_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "description": "RFC 6749 §5.2 error response",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
_STANDARD_PROBLEMS: Final = {
    400: "Malformed request, or a cursor this API did not issue",
    401: "No valid access token (RFC 6750 `WWW-Authenticate`)",
    403: "The token lacks the scope, or the policy does not allow this",
    422: "Invalid input; `errors` names each field",
}


def problem(description: str) -> dict[str, Any]:
    """An OpenAPI response that is a problem document."""
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
    }


def problem_responses(*, not_found: bool = False) -> dict[int | str, dict[str, Any]]:
    """The problem answers every protected API route can give (400, 401, 403, 422), and 404
    for routes that name a resource — for ``APIRouter(responses=...)``."""
    statuses = dict(_STANDARD_PROBLEMS)
    if not_found:
        statuses[404] = "No such resource, or not visible to the caller"
    return {code: problem(text) for code, text in sorted(statuses.items())}


def oauth_error_responses() -> dict[int | str, dict[str, Any]]:
    """The OAuth endpoints' error answers (RFC 6749 §5.2 JSON)."""
    return {
        code: {
            "description": description,
            "content": {"application/json": {"schema": _OAUTH_ERROR_SCHEMA}},
        }
        for code, description in (
            (400, "invalid_request, invalid_grant, unsupported_grant_type, invalid_scope …"),
            (401, "invalid_client"),
            (503, "temporarily_unavailable: the audit trail cannot be written"),
        )
    }
