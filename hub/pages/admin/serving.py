"""The administrator's pages' services, each admitted by :class:`hub.ui.person.PageServing`
with the scope the page needs; a refusal for want of it is recorded as the page's action."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends

from audit.events import Action
from auth.scopes import Scope
from hub.clients.administration import ClientAdministration, ClientsDeps
from hub.policy.service import PolicyDeps, PolicyService
from hub.runtime import Services
from hub.shares.service import SharesDeps, ShareService
from hub.ui.person import PageServing
from hub.web.recording import Call


def _clients(call: Call, services: Services) -> ClientAdministration:
    return ClientAdministration(
        call,
        ClientsDeps(
            policy=services.policy, allow_http_jwks_uri=not services.settings.is_production
        ),
    )


def _shares(call: Call, services: Services) -> ShareService:
    return ShareService(
        call,
        SharesDeps(
            policy=services.policy, directory=services.organisations, protector=services.protector
        ),
    )


def _policy(call: Call, services: Services) -> PolicyService:
    return PolicyService(call, PolicyDeps(policy=services.policy))


def _page(
    build: Callable[[Call, Services], object],
    scope: Scope,
    action: Action,
    resource_type: str,
    id_param: str | None = None,
) -> Any:
    return Depends(
        PageServing(
            build, scope=scope, action=action, resource_type=resource_type, id_param=id_param
        )
    )


ClientsReader = Annotated[
    ClientAdministration, _page(_clients, Scope.ADMIN, Action.CLIENT_ADD, "client")
]
ClientAdder = ClientsReader
ClientDisabler = Annotated[
    ClientAdministration, _page(_clients, Scope.ADMIN, Action.CLIENT_DISABLE, "client")
]
ClientEnabler = Annotated[
    ClientAdministration, _page(_clients, Scope.ADMIN, Action.CLIENT_ENABLE, "client")
]
SharesOverview = Annotated[ShareService, _page(_shares, Scope.ADMIN, Action.SHARE_LIST, "share")]
ShareRevoking = Annotated[
    ShareService, _page(_shares, Scope.ADMIN, Action.SHARE_REVOKE, "share", id_param="share_id")
]
AdminPolicy = Annotated[PolicyService, _page(_policy, Scope.ADMIN, Action.POLICY_EXPLAIN, "policy")]
AuditPolicy = Annotated[
    PolicyService, _page(_policy, Scope.AUDIT_READ, Action.POLICY_EXPLAIN, "policy")
]
