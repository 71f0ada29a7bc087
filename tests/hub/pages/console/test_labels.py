"""Every action and outcome the trail can hold has a label on the console's pages: the events
form lists every action, so one without a label would break the page for every auditor."""

from __future__ import annotations

from audit.events import LEAF_FIELDS, Action, Outcome
from hub.pages.console.labels import ACTION_LABELS, FIELD_LABELS, OUTCOME_LABELS


def test_every_action_has_a_label() -> None:
    assert sorted(set(Action) - set(ACTION_LABELS)) == []


def test_every_outcome_has_a_label() -> None:
    assert sorted(set(Outcome) - set(OUTCOME_LABELS)) == []


def test_every_leaf_field_has_a_label() -> None:
    assert sorted(set(LEAF_FIELDS) - set(FIELD_LABELS)) == []
