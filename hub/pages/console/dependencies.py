"""The console's services, built for the person of the page request by
:class:`hub.ui.person.PageServing`: the audit API's own :class:`AuditQueries` (and the auditor's
metadata reads), so a page reads, records and refuses exactly as ``/api/v1/audit`` does. A
person without ``audit:read`` gets the 403 page, recorded as the route's action."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from audit.events import Action
from auth.scopes import Scope
from hub.auditing.queries import AuditQueries, audit_queries
from hub.auditing.subjects import AuditedMetadata, audited_metadata
from hub.rules.model import Policy
from hub.runtime import Services
from hub.ui.person import PageServing
from hub.web.recording import Call


@dataclass(frozen=True, slots=True)
class Console:
    """One page request's audit queries, and the hub's services they were built from (the
    policy's purposes, the filters' mapping of a purpose to its URI)."""

    queries: AuditQueries
    services: Services

    @property
    def policy(self) -> Policy:
        return self.services.policy

    def purpose_codes(self) -> Mapping[str, str]:
        """The policy's purposes by the URI the trail records for them."""
        return {self.services.audit.purpose_uri(code): code for code in self.policy.purposes}


def _console(call: Call, services: Services) -> Console:
    return Console(audit_queries(call, services), services)


def _page(
    build: Any, action: Action, resource_type: str, *, scope: Scope | None = Scope.AUDIT_READ
) -> Any:
    id_param = {"document": "document_id", "share": "share_id"}.get(resource_type)
    return Depends(
        PageServing(
            build, scope=scope, action=action, resource_type=resource_type, id_param=id_param
        )
    )


EventsReader = Annotated[Console, _page(_console, Action.AUDIT_QUERY, "audit_log")]
EventReader = Annotated[Console, _page(_console, Action.AUDIT_QUERY, "audit_event")]
EventsExporter = Annotated[Console, _page(_console, Action.AUDIT_EXPORT, "audit_log")]
DocumentMetadata = Annotated[
    AuditedMetadata, _page(audited_metadata, Action.AUDIT_QUERY, "document")
]
ShareMetadata = Annotated[AuditedMetadata, _page(audited_metadata, Action.AUDIT_QUERY, "share")]
HomeConsole = Annotated[Console, _page(_console, Action.AUDIT_QUERY, "checkpoint", scope=None)]
"""The home page's: any person may open it; only one with ``audit:read`` reads the trail."""
