"""FastAPI dependencies: the hub's services, the request's transaction and its session, and the
check on query parameters."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from functools import partial
from types import UnionType
from typing import Annotated, Final, Union, get_args, get_origin

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlmodel import Session

from hub.core import db
from hub.core.errors import Unprocessable
from hub.runtime import Services
from hub.vault.service import Vault
from hub.web.limits import UploadSlots

logger = logging.getLogger(__name__)


# The dependencies that only look something up are ``async``: FastAPI runs a plain ``def``
# dependency in a worker thread, a hop per dependency and request (decision 0036).


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


class RequestTransaction:
    """A request's one transaction, in which a refusal keeps only its own record.

    The request's work (its changes and the events that record them) runs in a savepoint taken
    when the transaction begins. A refusal (:meth:`refuse`) rolls that savepoint back, with the
    side effects registered in it (:func:`hub.core.db.after_commit`,
    :func:`hub.core.db.after_rollback`),
    appends its event outside it, and starts the work afresh. When the request ends the work is
    committed with the rest; when it fails the work is rolled back and what is left, refusals
    only, is committed. So a refusal is kept although its request fails, and nothing else can be
    kept with it: there is no way to mark an error as one whose transaction must commit.

    Services only ``flush``; this is the single place a request's transaction commits, so a
    change and its audit record are written together or not at all. The savepoint costs no
    round trip until the session first touches the database (SQLAlchemy begins both lazily), so
    an upload still holds no transaction, and on SQLite no writer lock, while its file streams.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        # What lower layers call for a refusal they must keep (a failed login, hub.accounts).
        db.on_refusal(session, self.refuse)
        self._begin_work()

    def _begin_work(self) -> None:
        self._mark = db.pending_mark(self.session)
        self._work = self.session.begin_nested()

    def _discard_work(self) -> None:
        if self._work.is_active:
            self._work.rollback()
        db.undo_pending_since(self.session, self._mark)

    def refuse(self, record: Callable[[Session], object]) -> None:
        """Undo the request's work, then ``record`` the refusal where the work cannot reach it.

        The append runs in a savepoint of its own: if it fails, the refusals recorded before it
        stay whole (and the failure propagates, failing the request).
        """
        self._discard_work()
        with self.session.begin_nested():
            record(self.session)
        self._begin_work()

    def commit(self) -> None:
        self.session.commit()

    def fail(self) -> None:
        """The request failed: roll its work back and commit its refusals, if any."""
        try:
            self._discard_work()
            self.session.commit()
        except Exception:
            logger.exception("a failed request's refusals could not be committed")
            self.session.rollback()


def _end(transaction: RequestTransaction, *, failed: bool) -> None:
    """Commit the request's transaction (or, when it ``failed`` or its commit fails, roll its
    work back and commit its refusals), then close its session: one blocking step."""
    with transaction.session:
        if not failed:
            try:
                transaction.commit()
            except BaseException:
                transaction.fail()
                raise
            return
        transaction.fail()


def request_transaction(services: Services) -> Iterator[RequestTransaction]:
    """The request's transaction: committed when the handler returns; when it raises, its work
    is rolled back and only its refusals are committed. The blocking form, as
    :func:`transaction_dependency` ends it (for code that drives one outside FastAPI)."""
    transaction = RequestTransaction(Session(services.engine, expire_on_commit=False))
    try:
        yield transaction
    except BaseException:
        _end(transaction, failed=True)
        raise
    _end(transaction, failed=False)


async def transaction_dependency(services: ServicesDep) -> AsyncIterator[RequestTransaction]:
    """:func:`request_transaction` as the routes' dependency. Beginning touches no database
    (the session and its savepoint begin on first use), so it runs on the event loop; only
    the end, the commit, takes a worker thread: one hop per request instead of two (decision
    0036). A failed request's refusals are committed even when the request was cancelled."""
    transaction = RequestTransaction(Session(services.engine, expire_on_commit=False))
    try:
        yield transaction
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(partial(_end, transaction, failed=True))
        raise
    await anyio.to_thread.run_sync(partial(_end, transaction, failed=False))


# scope="function": the dependency exits (commits) when the handler returns, before the
# response is sent. FastAPI's default, "request", would commit after the answer has gone out,
# so a failed commit (the audit write, say) could no longer fail the request.
TransactionDep = Annotated[RequestTransaction, Depends(transaction_dependency, scope="function")]


async def get_session(transaction: TransactionDep) -> Session:
    """The request transaction's session, for routes that record nothing themselves."""
    return transaction.session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_upload_slots(request: Request) -> UploadSlots:
    slots: UploadSlots = request.app.state.upload_slots
    return slots


UploadSlotsDep = Annotated[UploadSlots, Depends(get_upload_slots)]


async def get_vault(services: ServicesDep) -> Vault:
    return services.vault


VaultDep = Annotated[Vault, Depends(get_vault)]


_SHOWABLE_PARAMETER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")


async def reject_unknown_query(request: Request) -> None:
    """Refuse query parameters the route does not declare, and a single-valued one given more
    than once (422).

    A misspelled filter (``?documnet_type=decision``) would otherwise be ignored, and the
    caller would get everything instead of what it asked for; a repeated one
    (``?outcome=denied&outcome=success``) would silently mean only its last value. A name is
    repeated in the message only when it cannot be personal data (a short word, not a v-number).
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or "access_token" in request.query_params:
        # A token in the query is refused by the bearer check itself, as RFC 6750 prescribes.
        return
    known, lists = _query_names(route.dependant)
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        shown = [name for name in unknown if _SHOWABLE_PARAMETER.fullmatch(name)]
        names = ", ".join(sorted(set(shown))) if len(shown) == len(unknown) else "unnamed"
        allowed = ", ".join(sorted(known)) or "none"
        raise Unprocessable(f"unknown query parameter ({names}); this route takes: {allowed}")
    repeated = sorted(
        name
        for name in set(request.query_params)
        if name not in lists and len(request.query_params.getlist(name)) > 1
    )
    if repeated:
        raise Unprocessable(f"query parameter given more than once: {', '.join(repeated)}")


def _takes_several(annotation: object) -> bool:
    """Whether a parameter's type is a list (``list[str]``, ``list[str] | None``, …)."""
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset, Sequence):
        return True
    return origin in (Union, UnionType) and any(_takes_several(a) for a in get_args(annotation))


def _query_names(dependant: Dependant) -> tuple[set[str], set[str]]:
    """The query parameters a route declares, its dependencies' included, and those of them
    that take several values."""
    names: set[str] = set()
    lists: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        for param in current.query_params:
            names.add(param.alias)
            if _takes_several(param.field_info.annotation):
                lists.add(param.alias)
        pending.extend(current.dependencies)
    return names, lists


StrictQuery = Depends(reject_unknown_query)
