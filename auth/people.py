"""People who log in: their roles, what each role may do, and how the login flow sees them.

A person acts through the web UI's client (:data:`WEB_CLIENT_ID`) with the scopes of their roles.
The roles keep the duties apart as clients' scopes do (:func:`auth.scopes.check_separation`):
whoever audits or administers the casework must not also do it, so a caseworker is never also an
auditor or an administrator. An auditor may also be an administrator (both oversee).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from auth.scopes import Scope, check_separation

WEB_CLIENT_ID: Final = "ketenhub-web"
"""The web UI's own OAuth client: people's tokens are issued to it."""


class Role(StrEnum):
    CASEWORKER = "caseworker"
    """Reads, uploads and shares documents for their organisation."""
    AUDITOR = "auditor"
    """Reads the audit trail; never document content."""
    ADMIN = "admin"
    """Manages organisations, clients and the policy; never document content."""


ROLE_SCOPES: Final[Mapping[Role, frozenset[Scope]]] = MappingProxyType(
    {
        Role.CASEWORKER: frozenset(
            {Scope.DOCUMENTS_READ, Scope.DOCUMENTS_WRITE, Scope.SHARES_WRITE}
        ),
        Role.AUDITOR: frozenset({Scope.AUDIT_READ}),
        Role.ADMIN: frozenset({Scope.ADMIN}),
    }
)


def scopes_of(roles: Iterable[Role]) -> frozenset[Scope]:
    """The union of the roles' scopes."""
    return frozenset().union(*(ROLE_SCOPES[role] for role in roles))


def check_roles(roles: Iterable[Role]) -> None:
    """Raise ``ValueError`` unless ``roles`` keep the duties apart (separation of duties).

    A caseworker is never also an auditor or an administrator: the scopes of the roles together
    must pass :func:`auth.scopes.check_separation`. No role at all is refused too.
    """
    roles = frozenset(roles)
    if not roles:
        raise ValueError("name at least one role: " + ", ".join(Role))
    if Role.CASEWORKER in roles and roles - {Role.CASEWORKER}:
        others = ", ".join(sorted(roles - {Role.CASEWORKER}))
        raise ValueError(f"a caseworker cannot also be {others} (separation of duties)")
    check_separation(scopes_of(roles))


@dataclass(frozen=True, slots=True)
class Person:
    """Who logged in, as the login flow and token issuing see them."""

    user_id: str
    """A uuid4 string: stable, never reused."""
    username: str
    """Lower case ``[a-z0-9._-]{3,64}``, unique, never renamed."""
    organisation: str
    """The code of their organisation."""
    roles: frozenset[Role]
    processing_activity: str
    """The code of the processing activity (purpose) they act for, as for clients (``opvang``)."""

    @property
    def scopes(self) -> frozenset[Scope]:
        return scopes_of(self.roles)
