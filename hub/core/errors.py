"""The hub's error family, answered as RFC 9457 ``application/problem+json`` documents.

Domain code raises a :class:`HubError` subclass; it never raises ``HTTPException``. One set of
handlers (:mod:`hub.web.error_handlers`) turns every error into a problem document
(:mod:`hub.web.problems`), where routes also find what documents the answers they can give
(:func:`~hub.web.problems.problem`, :func:`~hub.web.problems.problem_responses`).

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

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

__all__ = [
    "AuditUnavailable",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "HubError",
    "NotFound",
    "OAuthRequestError",
    "PayloadTooLarge",
    "PreconditionFailed",
    "RangeNotSatisfiable",
    "ServiceUnavailable",
    "Unprocessable",
    "UnsupportedMediaType",
]


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
