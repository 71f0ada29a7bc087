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


ALL_SCOPES = frozenset(Scope)


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
