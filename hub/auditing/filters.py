"""The auditor's filters, built once for the API and the console's pages.

Both take the same names (docs/api.md): ``since``/``until`` (a moment), ``organisation``,
``actor``, ``client``, ``action``, ``outcome``, ``document_id``, ``purpose`` (a processing
activity's *code*, mapped through the policy in force to the URI the trail records) and
``policy_rule``. What does not make sense is a :class:`~hub.core.errors.Unprocessable` (422).
"""

from __future__ import annotations

from datetime import datetime

from audit.events import Action, Outcome, format_time
from hub.auditing.repository import EventFilter
from hub.core.errors import Unprocessable
from hub.runtime import Services


def purpose_id(services: Services, code: str) -> str:
    """The URI the trail records for the purpose ``code``; an unknown code is 422."""
    if code not in services.policy.purposes:
        known = ", ".join(sorted(services.policy.purposes))
        raise Unprocessable(f"purpose must be one of the policy's purposes: {known}")
    return services.audit.purpose_uri(code)


def event_filter_of(
    services: Services,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    organisation: str | None = None,
    actor: str | None = None,
    client: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    document_id: str | None = None,
    share_id: str | None = None,
    purpose: str | None = None,
    policy_rule: str | None = None,
) -> EventFilter:
    """The :class:`EventFilter` for the given filters (``None`` or empty: not filtered)."""
    if since is not None and until is not None and since > until:
        raise Unprocessable("since must not be later than until")
    if action and action not in Action.__members__.values():
        raise Unprocessable(f"action: {action!r} is not an audit action")
    if outcome and outcome not in Outcome.__members__.values():
        raise Unprocessable(f"outcome: {outcome!r} is not an outcome")
    return EventFilter(
        since=None if since is None else format_time(since),
        until=None if until is None else format_time(until),
        organisation=organisation or None,
        action=str(action) if action else None,
        document_id=document_id or None,
        outcome=str(outcome) if outcome else None,
        actor=actor or None,
        client=client or None,
        purpose_id=purpose_id(services, purpose) if purpose else None,
        policy_rule=policy_rule or None,
        share_id=share_id or None,
    )
