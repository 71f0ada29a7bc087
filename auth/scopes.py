"""The API's OAuth scopes.

A scope grants a kind of action; which documents an organisation may act on is the sharing
policy's decision, made in the hub's services. A client is registered with the scopes it may
ask for, and a token carries the ones it asked for (all of them when it asked for none).
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    DOCUMENTS_WRITE = "documents:write"
    """Upload documents, and delete where the policy allows."""
    DOCUMENTS_READ = "documents:read"
    """List, search and download what the policy and shares make visible."""
    SHARES_WRITE = "shares:write"
    """Grant and revoke shares."""
    AUDIT_READ = "audit:read"
    """Read, export and verify the audit trail; never document content."""
    ADMIN = "admin"
    """Manage organisations, clients and the policy; never document content."""
    METRICS_READ = "metrics:read"
    """Scrape ``GET /metrics`` (operational figures, no personal data); held alone."""


ALL_SCOPES = frozenset(Scope)

CASEWORK_SCOPES = frozenset({Scope.DOCUMENTS_READ, Scope.DOCUMENTS_WRITE, Scope.SHARES_WRITE})
"""The scopes that touch documents and shares: the work that auditors and admins oversee."""
OVERSIGHT_SCOPES = frozenset({Scope.AUDIT_READ, Scope.ADMIN})
"""The scopes of those who oversee the casework; never held together with it."""


def check_separation(scopes: frozenset[Scope] | set[Scope]) -> None:
    """Raise ``ValueError`` unless ``scopes`` keep the duties apart (separation of duties).

    ``audit:read`` and ``admin`` are never held with a document or share scope by one client:
    whoever audits or administers the casework must not also do it. ``metrics:read`` is held
    alone, so a metrics scraper's credentials open nothing else if they leak.
    """
    if Scope.METRICS_READ in scopes and len(scopes) > 1:
        raise ValueError("metrics:read is held alone, with no other scope")
    oversight, casework = scopes & OVERSIGHT_SCOPES, scopes & CASEWORK_SCOPES
    if oversight and casework:
        raise ValueError(
            f"{format_scopes(set(oversight))} cannot be held together with "
            f"{format_scopes(set(casework))} (separation of duties)"
        )


def parse_scopes(value: str | None) -> frozenset[Scope]:
    """Split a space-separated scope string; raises ``ValueError`` naming an unknown scope."""
    scopes = set()
    for item in (value or "").split():
        try:
            scopes.add(Scope(item))
        except ValueError:
            raise ValueError(f"unknown scope {item!r}") from None
    return frozenset(scopes)


def format_scopes(scopes: frozenset[Scope] | set[Scope]) -> str:
    """The canonical, sorted, space-separated form."""
    return " ".join(sorted(scopes))
