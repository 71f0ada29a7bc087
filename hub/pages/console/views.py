"""An event as the console's pages show it: its leaf read into what a person looks for (when,
what, who, about what, why, by which rule), each tag with its readable name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from audit.events import parse_time
from hub.auditing.schemas import EventOut
from hub.pages.console.labels import ACTION_LABELS, OUTCOME_LABELS

RESOURCE_PAGES: Final = {"document": "/audit/documents/", "share": "/audit/shares/"}
"""The console's page of a resource the trail names, by its type."""


def resource_link(resource_type: str | None, resource_id: str | None) -> str | None:
    """The console's page of the resource, for a document or a share."""
    page = RESOURCE_PAGES.get(resource_type or "")
    return f"{page}{resource_id}" if page and resource_id else None


@dataclass(frozen=True, slots=True)
class EventView:
    """One event's row: the leaf's values, with names for its tags."""

    seq: int
    time: datetime
    action: str
    action_label: str
    outcome: str
    outcome_label: str
    actor_type: str
    actor: str
    organisation: str
    client: str
    resource_type: str
    resource_id: str
    resource_link: str | None
    purpose: str
    """The purpose's code when the policy names its URI, else the URI as recorded."""
    rule: str


def event_view(
    event: EventOut, *, gettext: Callable[[str], str], purposes: Mapping[str, str]
) -> EventView:
    """``event`` shown with ``gettext``; ``purposes`` maps a purpose's URI to its code."""
    leaf = {name: str(value) for name, value in event.leaf.items()}
    action, outcome = leaf.get("action", ""), leaf.get("outcome", "")
    purpose = leaf.get("processing_activity_id", "")
    resource_type, resource_id = leaf.get("resource_type", ""), leaf.get("resource_id", "")
    return EventView(
        seq=event.seq,
        time=parse_time(leaf["time"]),
        action=action,
        action_label=gettext(ACTION_LABELS[action]) if action in ACTION_LABELS else action,
        outcome=outcome,
        outcome_label=gettext(OUTCOME_LABELS[outcome]) if outcome in OUTCOME_LABELS else outcome,
        actor_type=leaf.get("actor_type", ""),
        actor=leaf.get("actor_id", ""),
        organisation=leaf.get("organisation", ""),
        client=leaf.get("actor_client", ""),
        resource_type=resource_type,
        resource_id=resource_id,
        resource_link=resource_link(resource_type, resource_id),
        purpose=purposes.get(purpose, purpose),
        rule=leaf.get("policy_rule", ""),
    )
