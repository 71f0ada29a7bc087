"""The partner client's errors: one tree, so a caller catches as much or as little as it means.

Every error the SDK raises is a :class:`KetenhubClientError`; each branch maps to one exit code
of the ``ketenhub-client`` command (``EXIT_*`` below), so a script tells a refusal from an outage
without parsing text. Errors from httpx or the file system are re-raised with ``from exc``.

Exception tree::

    KetenhubClientError                 exit 1 unless a subclass says otherwise
    ├── ConfigError                     exit 1  settings, profile, key file (its mode), usage
    ├── HubRefused                      exit 2  the hub answered 4xx (problem+json surfaced)
    │   ├── AuthenticationFailed        exit 2  /oauth/token refused the client (RFC 6749 JSON)
    │   └── NotFound                    exit 2  404: missing, or not visible to this client
    ├── HubUnavailable                  exit 3  no connection, a timeout or 5xx, after retries
    └── VerificationFailed              exit 4  a digest, a receipt or a proof did not verify
        └── SplitView                   exit 4  the hub showed this witness two different logs
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

EXIT_OK: Final = 0
EXIT_USAGE: Final = 1
EXIT_REFUSED: Final = 2
EXIT_UNAVAILABLE: Final = 3
EXIT_VERIFICATION: Final = 4
EXIT_INTERRUPTED: Final = 130

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "EXIT_VERIFICATION",
    "AuthenticationFailed",
    "ConfigError",
    "HubRefused",
    "HubUnavailable",
    "KetenhubClientError",
    "NotFound",
    "SplitView",
    "VerificationFailed",
]


class KetenhubClientError(Exception):
    """Anything the partner client could not do; ``str()`` says what and, where it can, why."""

    exit_code: ClassVar[int] = EXIT_USAGE

    def as_json(self) -> dict[str, Any]:
        """What ``--json`` prints for this error."""
        return {"error": type(self).__name__, "message": str(self), "exit_code": self.exit_code}


class ConfigError(KetenhubClientError):
    """The settings are missing or unsafe: no hub URL, a key file others may read, …"""


class HubRefused(KetenhubClientError):
    """The hub answered with a 4xx. ``problem`` is its RFC 9457 problem document (or the RFC
    6749 error JSON of ``/oauth/*``), as sent; ``detail`` its most specific text."""

    exit_code: ClassVar[int] = EXIT_REFUSED

    def __init__(self, status: int, problem: Mapping[str, Any] | None, *, method: str, path: str):
        self.status = status
        self.problem: dict[str, Any] = dict(problem or {})
        self.method = method
        self.path = path
        title = self.problem.get("title") or self.problem.get("error") or "refused"
        detail = self.problem.get("detail") or self.problem.get("error_description")
        self.detail = str(detail) if detail else str(title)
        super().__init__(f"{method} {path}: {status} {title}" + (f": {detail}" if detail else ""))

    def as_json(self) -> dict[str, Any]:
        return {**super().as_json(), "status": self.status, "problem": self.problem}


class AuthenticationFailed(HubRefused):
    """The token endpoint refused this client: wrong key, unknown client id, disabled client."""


class NotFound(HubRefused):
    """404: the thing does not exist, or this client may not see it (the hub does not say which)."""


class HubUnavailable(KetenhubClientError):
    """The hub could not be reached, timed out, or kept answering 5xx after the retries."""

    exit_code: ClassVar[int] = EXIT_UNAVAILABLE


class VerificationFailed(KetenhubClientError):
    """What arrived does not match what the hub vouched for: a content digest, a receipt's
    signature, an inclusion or consistency proof."""

    exit_code: ClassVar[int] = EXIT_VERIFICATION


class SplitView(VerificationFailed):
    """The hub's latest checkpoint is not consistent with one this client saw before: it shows
    different parties different logs (or rewrote its own)."""
