"""The flood gate for refusals of callers who never authenticated (:class:`RefusalGate`) and
the request's note (:mod:`hub.trail.request_note`), in process, with a clock the test moves."""

from __future__ import annotations

import contextvars
import threading

import pytest

from audit.events import ActorType, Outcome
from hub.trail.context import Actor
from hub.trail.gate import RefusalGate, Summary, outcome_of_status
from hub.trail.request_note import note_actor, note_recorded, noting


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_refusal_of_a_source_is_admitted_the_rest_counted() -> None:
    clock = Clock()
    gate = RefusalGate(60, clock=clock)
    assert gate.admit("192.0.2.1", Outcome.DENIED, 401) == (True, [])
    for _ in range(99):
        assert gate.admit("192.0.2.1", Outcome.DENIED, 401) == (False, [])
    # Another source has its own window.
    assert gate.admit("192.0.2.2", Outcome.DENIED, 401) == (True, [])
    assert gate.due() == []  # nothing has ended yet
    clock.now += 60
    summaries = gate.due()
    assert summaries == [Summary("192.0.2.1", Outcome.DENIED, ((401, 99),), 60)]
    assert summaries[0].detail() == "99 more refusals in 60 s (401: 99)"
    # A window without counted refusals ends silently, and a new one starts afresh.
    assert gate.due() == []
    assert gate.admit("192.0.2.1", Outcome.DENIED, 401) == (True, [])


def test_summaries_are_per_outcome_with_their_statuses() -> None:
    clock = Clock()
    gate = RefusalGate(10, clock=clock)
    gate.admit("192.0.2.1", Outcome.DENIED, 401)
    for status in (401, 401, 404, 429, 405):
        gate.admit("192.0.2.1", outcome_of_status(status), status)
    clock.now += 10
    # The next refusal after the window ended brings its summaries along, and is admitted.
    admitted, ended = gate.admit("192.0.2.1", Outcome.DENIED, 401)
    assert admitted
    assert sorted(ended, key=lambda s: s.outcome) == [
        Summary("192.0.2.1", Outcome.DENIED, ((401, 2), (429, 1)), 10),
        Summary("192.0.2.1", Outcome.INVALID, ((405, 1),), 10),
        Summary("192.0.2.1", Outcome.NOT_FOUND, ((404, 1),), 10),
    ]


def test_everything_is_taken_at_shutdown() -> None:
    gate = RefusalGate(3600, clock=Clock())
    gate.admit("192.0.2.1", Outcome.DENIED, 401)
    gate.admit("192.0.2.1", Outcome.DENIED, 401)
    assert gate.due() == []
    assert [s.count for s in gate.due(everything=True)] == [1]
    assert gate.due(everything=True) == []


def test_sources_beyond_the_bound_share_one_window() -> None:
    gate = RefusalGate(60, max_sources=2, clock=Clock())
    assert gate.admit("192.0.2.1", Outcome.DENIED, 401)[0]
    assert gate.admit("192.0.2.2", Outcome.DENIED, 401)[0]
    assert gate.admit("192.0.2.3", Outcome.DENIED, 401)[0]  # first of the overflow window
    assert not gate.admit("192.0.2.4", Outcome.DENIED, 401)[0]
    summaries = gate.due(everything=True)
    assert [(s.source, s.count) for s in summaries] == [(None, 1)]


def test_counting_is_exact_under_threads() -> None:
    gate = RefusalGate(3600)
    admitted: list[bool] = []

    def flood() -> None:
        admitted.extend(gate.admit("192.0.2.9", Outcome.DENIED, 401)[0] for _ in range(500))

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 1
    assert sum(s.count for s in gate.due(everything=True)) == 8 * 500 - 1


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RefusalGate(0)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (400, Outcome.INVALID),
        (401, Outcome.DENIED),
        (403, Outcome.DENIED),
        (404, Outcome.NOT_FOUND),
        (405, Outcome.INVALID),
        (408, Outcome.INVALID),
        (413, Outcome.INVALID),
        (415, Outcome.INVALID),
        (422, Outcome.INVALID),
        (429, Outcome.DENIED),
        (500, Outcome.ERROR),
        (503, Outcome.ERROR),
    ],
)
def test_outcome_of_status(status: int, outcome: Outcome) -> None:
    assert outcome_of_status(status) == outcome


def test_the_note_sees_marks_made_in_a_copied_context() -> None:
    """Dependencies run in worker threads with a copy of the request's context: the note is
    one object, so what they mark is seen outside."""
    with noting() as note:
        assert not note.covers(401)
        contextvars.copy_context().run(note_recorded, Outcome.SUCCESS)
        assert not note.covers(401)
        actor = Actor(ActorType.CLIENT, "demo-iom", "IOM")
        contextvars.copy_context().run(note_actor, actor)
        contextvars.copy_context().run(note_recorded, Outcome.DENIED)
        assert note.actor == actor
        assert note.covers(403)
        assert not note.covers(500)  # a server error needs an error event of its own
        note_recorded(Outcome.ERROR)
        assert note.covers(500)
    note_recorded(Outcome.DENIED)  # outside a request: nothing to mark, no error
