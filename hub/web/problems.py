"""The answers errors get: RFC 9457 problem documents, OAuth's error JSON, and how the OpenAPI
document describes both.

``/oauth/*`` answers OAuth's error JSON (RFC 6749 §5.2), everything else a problem document.
Both carry ``API-Version`` and ``Cache-Control: no-store``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastapi.responses import JSONResponse

from hub.config import API_VERSION

PROBLEM_JSON: Final = "application/problem+json"
PROBLEM_TYPE_BASE: Final = "urn:ketenhub:problem:"


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


def oauth_error_response(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"API-Version": API_VERSION, "Cache-Control": "no-store", "Pragma": "no-cache"},
    )


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
    # Any request with a body (hub.web.limits, decision 0017), refused before it is parsed:
    408: "The request body stopped arriving, or arrived too slowly",
    413: "The request body is larger than the route takes (64 KiB for JSON)",
    422: "Invalid input; `errors` names each field",
}


def problem(description: str) -> dict[str, Any]:
    """An OpenAPI response that is a problem document."""
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
    }


def problem_responses(*, not_found: bool = False) -> dict[int | str, dict[str, Any]]:
    """The problem answers every protected API route can give (400, 401, 403, 408, 413, 422),
    and 404 for routes that name a resource — for ``APIRouter(responses=...)``."""
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
            (
                400,
                (
                    "invalid_request (not a UTF-8 form, a repeated parameter, a control "
                    "character), invalid_client (a client assertion), unsupported_grant_type, "
                    "invalid_scope …"
                ),
            ),
            (401, "invalid_client (HTTP Basic, with WWW-Authenticate)"),
            (408, "invalid_request: the body stopped arriving, or arrived too slowly"),
            (413, "invalid_request: the form is larger than 64 KiB"),
            (503, "temporarily_unavailable: the audit trail cannot be written"),
        )
    }


def answers_oauth_errors(path: str) -> bool:
    """``/oauth/*`` answers OAuth's error JSON (RFC 6749 §5.2); the rest problem+json. Not the
    authorization endpoint: a browser visits it, and its errors are pages or redirects to the
    client (RFC 6749 §4.1.2.1), never the token endpoint's JSON."""
    return path.startswith("/oauth/") and path != "/oauth/authorize"
