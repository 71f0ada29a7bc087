"""A request's refusal keeps only its own record (:class:`hub.web.deps.RequestTransaction`).

Driven through the request's transaction dependency itself, on SQLite and PostgreSQL: the
request changes something and records it, then refuses; the refusal must be committed, and the
change, its record and its side effects must not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlmodel import Session, col, select

from audit.events import Action, Outcome
from audit.log import AuditLog
from audit.models import AuditEvent
from hub.core import db
from hub.core.errors import Forbidden
from hub.tables.organisations import Organisation, OrganisationKind
from hub.trail.context import Context
from hub.trail.recorder import About, Recorder
from hub.web.deps import RequestTransaction, request_transaction
from tests.fixtures.oauth import Hub

_CODE = "ZZTEST"
_ABOUT = About("organisation", _CODE)


def _log_size(hub: Hub) -> int:
    with hub.services.engine.connect() as connection:
        return AuditLog.size(connection)


def _events_from(hub: Hub, seq: int) -> list[AuditEvent]:
    with Session(hub.services.engine) as session:
        query = select(AuditEvent).where(col(AuditEvent.seq) >= seq)
        return list(session.exec(query.order_by(col(AuditEvent.seq))))


def _organisation(hub: Hub) -> Organisation | None:
    with Session(hub.services.engine) as session:
        return session.get(Organisation, _CODE)


def _change_and_record(transaction: RequestTransaction, recorder: Recorder) -> list[str]:
    """Add an organisation, record it, and register side effects; what the effects did."""
    session = transaction.session
    session.add(Organisation(code=_CODE, name="Test", kind=OrganisationKind.RIJK))
    session.flush()
    recorder.record(session, Action.ORGANISATION_ADD, _ABOUT)
    effects: list[str] = []
    db.after_commit(session, lambda: effects.append("after commit"))
    db.after_rollback(session, lambda: effects.append("after rollback"))
    return effects


def _refusal(recorder: Recorder) -> Callable[[Session], object]:
    return lambda session: recorder.record(
        session, Action.ORGANISATION_UPDATE, _ABOUT, Outcome.DENIED, detail="own organisation"
    )


def _run(hub: Hub, request: Callable[[RequestTransaction], None]) -> Iterator[None]:
    """Drive the dependency as FastAPI does: the handler's exception is thrown into it."""
    dependency = request_transaction(hub.services)
    transaction = next(dependency)
    try:
        request(transaction)
    except Exception as exc:  # noqa: BLE001 - handed to the dependency, which re-raises it
        with pytest.raises(type(exc)):
            dependency.throw(exc)
        yield
        return
    with pytest.raises(StopIteration):
        next(dependency)
    yield


def test_a_refusal_after_a_flushed_change_keeps_only_the_refusal(hub: Hub) -> None:
    recorder = Recorder(hub.services.audit, Context.new())
    start = _log_size(hub)
    effects: list[list[str]] = []

    def request(transaction: RequestTransaction) -> None:
        effects.append(_change_and_record(transaction, recorder))
        transaction.refuse(_refusal(recorder))
        raise Forbidden("refused after a change")

    list(_run(hub, request))
    events = _events_from(hub, start)
    assert [(e.seq, e.action, e.outcome) for e in events] == [
        (start, "organisation.update", "denied")
    ]
    assert _organisation(hub) is None
    # The work's rollback actions ran when it was undone; its commit actions never did, although
    # the transaction (holding the refusal) committed.
    assert effects == [["after rollback"]]


def test_work_after_a_refusal_is_not_kept_with_it(hub: Hub) -> None:
    recorder = Recorder(hub.services.audit, Context.new())
    start = _log_size(hub)

    def request(transaction: RequestTransaction) -> None:
        transaction.refuse(_refusal(recorder))
        _change_and_record(transaction, recorder)
        raise Forbidden("failed after the refusal")

    list(_run(hub, request))
    assert [e.outcome for e in _events_from(hub, start)] == ["denied"]
    assert _organisation(hub) is None


def test_a_request_that_fails_without_refusing_keeps_nothing(hub: Hub) -> None:
    recorder = Recorder(hub.services.audit, Context.new())
    start = _log_size(hub)

    def request(transaction: RequestTransaction) -> None:
        _change_and_record(transaction, recorder)
        raise RuntimeError("a bug")

    list(_run(hub, request))
    assert _events_from(hub, start) == []
    assert _organisation(hub) is None


def test_a_request_that_succeeds_keeps_its_work_and_its_record(hub: Hub) -> None:
    recorder = Recorder(hub.services.audit, Context.new())
    start = _log_size(hub)
    effects: list[list[str]] = []

    def request(transaction: RequestTransaction) -> None:
        effects.append(_change_and_record(transaction, recorder))

    list(_run(hub, request))
    assert [e.action for e in _events_from(hub, start)] == ["organisation.add"]
    assert _organisation(hub) is not None
    assert effects == [["after commit"]]
