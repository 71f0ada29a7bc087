"""The exception handlers: every error a request can raise, answered as a problem document.

Installed by :func:`install_handlers`: hub errors, request validation errors, Starlette's own
404/405 (a 405's ``Allow`` lists every method the path supports: :mod:`hub.web.methods`), errors
from ``storage``, and anything unexpected (500, with no detail beyond a reference the logs
carry: :func:`log_unexpected` writes one line, without any exception's message). Under
``/oauth/`` each is answered in OAuth's error JSON instead.

A browser that asks for a page may be shown an HTML error page instead of the JSON answer: the
app passes :func:`install_handlers` the web UI's :class:`ErrorPages`, which each handler asks
first, with the status and headers of the answer it would give (the web UI decides which
requests get pages; the API never does). A page that cannot be rendered is logged and the JSON
answer goes out: an error page must not turn into a second error.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Protocol, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from audit.events import Action, Outcome
from auth.dependencies import BearerError
from auth.tokens import Principal
from hub.core.errors import HubError, OAuthRequestError
from hub.observability.middleware import route_template
from hub.observability.tracing import known_method
from hub.runtime import Services
from hub.trail.context import Actor, request_context
from hub.trail.recorder import NOTHING, Recorder
from hub.web.limits import BodyRefused, refusal_response
from hub.web.methods import allowed_methods
from hub.web.problems import (
    PROBLEM_TYPE_BASE,
    answers_oauth_errors,
    oauth_error_response,
    problem_response,
)
from storage.errors import IntegrityError, StorageError, StoreUnavailable

logger = logging.getLogger(__name__)
_MAX_CAUSES = 5

Handler = Callable[[Request, Exception], Awaitable[Response]]


class ErrorPages(Protocol):
    """Answers an error with a page when ``request`` should see one; ``None``: the JSON answer
    stands. ``reference`` is the log line's, for a server error."""

    def __call__(
        self,
        request: Request,
        *,
        status: int,
        headers: Mapping[str, str],
        reference: str | None = None,
    ) -> Response | None: ...


def _as_page(request: Request, answer: Response, reference: str | None = None) -> Response:
    """``answer``, or the error page the app's :class:`ErrorPages` gives for it."""
    pages: ErrorPages | None = getattr(request.app.state, "error_pages", None)
    if pages is None:
        return answer
    try:
        page = pages(
            request, status=answer.status_code, headers=answer.headers, reference=reference
        )
    except Exception as exc:  # noqa: BLE001 - the JSON answer goes out instead, logged once
        log_unexpected(request, exc)
        return answer
    return answer if page is None else page


def _paged(handler: Handler) -> Handler:
    async def answer(request: Request, exc: Exception) -> Response:
        return _as_page(request, await handler(request, exc))

    return answer


def _is_oauth(request: Request) -> bool:
    return answers_oauth_errors(request.url.path)


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


async def _body_refused(request: Request, exc: Exception) -> JSONResponse:
    return refusal_response(request.url.path, cast(BodyRefused, exc))


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


def _record_refused_claim(request: Request, principal: Principal) -> None:
    """A partner issuer's token for an organisation outside its list: who it claimed to be,
    with the issuer, is recorded (the attempt matters to the organisation it named)."""
    services: Services = request.app.state.services
    recorder = Recorder(services.audit, request_context(request), Actor.of(principal))
    recorder.record_alone(
        Action.TOKEN_REFUSE, NOTHING, Outcome.DENIED, detail="issuer may not act for organisation"
    )


async def _bearer_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(BearerError, exc)  # registered for this class only
    if exc.refused is not None:
        await run_in_threadpool(_record_refused_claim, request, exc.refused)
    return problem_response(
        status=exc.status_code,
        title=_phrase(exc.status_code),
        detail=exc.description,
        type_=PROBLEM_TYPE_BASE
        + ("insufficient-scope" if exc.status_code == 403 else "unauthorized"),
        instance=request.url.path,
        headers={"WWW-Authenticate": exc.www_authenticate},
    )


def log_unexpected(request: Request, exc: BaseException) -> str:
    """Log an unhandled error once, and return the reference its answer quotes.

    The line names the route's template (not the path as sent, which may hold a v-number), the
    exception's class and those of its causes, and the stack's frames; never an exception's
    message, which for a database error quotes the statement's parameters, nor any of the body.
    """
    reference = secrets.token_hex(8)
    route = route_template(request.scope) or "unmatched"
    causes: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(causes) < _MAX_CAUSES:
        causes.append(f"{type(current).__module__}.{type(current).__qualname__}")
        current = current.__cause__ or current.__context__
    frames = "".join(traceback.format_tb(exc.__traceback__))
    logger.error(
        "unhandled error (ref %s) on %s %s: %s\n%s",
        reference,
        known_method(request.method),
        route,
        " <- ".join(causes),
        frames.rstrip(),
    )
    return reference


def unexpected_response(request: Request, reference: str) -> Response:
    """The 500 answer of an unhandled error: nothing beyond the reference the log carries."""
    if _is_oauth(request):
        return oauth_error_response(
            500, "server_error", f"unexpected error (reference {reference})"
        )
    answer = problem_response(
        status=HTTPStatus.INTERNAL_SERVER_ERROR,
        title="Internal Server Error",
        detail=f"an unexpected error occurred (reference {reference})",
        type_=PROBLEM_TYPE_BASE + "internal-error",
        instance=request.url.path,
    )
    return _as_page(request, answer, reference)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Only what escapes the refusal recorder (hub.web.refusals), which answers the rest itself.
    return unexpected_response(request, log_unexpected(request, exc))


def install_handlers(app: FastAPI, *, pages: ErrorPages | None = None) -> None:
    """Install every handler; ``pages`` (the web UI's) may answer a browser with a page."""
    app.state.error_pages = pages
    app.add_exception_handler(HubError, _paged(_hub_error))
    app.add_exception_handler(RequestValidationError, _paged(_validation_error))
    app.add_exception_handler(StarletteHTTPException, _paged(_http_error))
    app.add_exception_handler(BodyRefused, _paged(_body_refused))
    app.add_exception_handler(StorageError, _paged(_storage_error))
    app.add_exception_handler(BearerError, _paged(_bearer_error))
    app.add_exception_handler(OAuthRequestError, _oauth_request_error)
    app.add_exception_handler(Exception, _unexpected)
