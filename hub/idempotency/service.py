"""Claiming an ``Idempotency-Key``, keeping the first answer and answering it again.

See :mod:`hub.idempotency` for the rules and the way a route uses this. The invariants:

- A key is claimed in a transaction of its own, committed before the work starts, so that a
  second request with the key, on any replica, finds the claim (409) instead of doing the work
  twice. The primary key (caller, operation, key hash) makes the claim race-free.
- The answer is stored in the request's transaction (:meth:`Claim.complete`): kept exactly when
  the work is. A claim that was not completed and committed is deleted once the request's
  transaction ends (:meth:`Claim.bind`), so a failed first request leaves the key free.
- A claim is held for a lease (:data:`LEASE`): one a crashed process left behind may be taken
  over once it has lapsed. A long upload renews it (:meth:`Claim.renew`).
- A row lives :data:`LIFETIME` (24 hours) from its claim; after that the key is new again, and
  :func:`sweep_expired` deletes the row.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from hub.core import db
from hub.core.db import as_utc
from hub.idempotency import repository
from hub.idempotency.keys import KeyInProgress, KeyReused, key_hash
from hub.idempotency.repository import DONE, IN_PROGRESS, Scope
from hub.trail.auditor import Receipt

logger = logging.getLogger(__name__)

LIFETIME: Final = timedelta(hours=24)
"""How long a key's first answer is kept (draft-ietf-httpapi-idempotency-key-header §2.3)."""
LEASE: Final = timedelta(minutes=10)
"""How long a claim holds without being renewed before another request may take it over."""
SWEEP_INTERVAL: Final = 3600.0
"""Seconds between two sweeps of expired keys by each replica."""

_BOUND: Final = "ketenhub.idempotency_claims"
_IN_PROGRESS: Final = "a request with this Idempotency-Key is still being processed; retry later"


@dataclass(frozen=True, slots=True)
class Answer:
    """What is kept of a first answer: never a body, never personal data.

    ``headers`` are the ones a replay repeats (``Location``, ``Upload-Expires``); ``receipt``
    the audit receipt of the first request's event, which a replay shows again (a replay records
    nothing new). The route renders the body again from ``resource_id``.
    """

    status: int
    resource_id: uuid.UUID | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    receipt: Receipt | None = None

    def stored(self) -> dict[str, Any]:
        return {
            "headers": dict(self.headers),
            "receipt": None if self.receipt is None else self.receipt.as_dict(),
        }

    @classmethod
    def of(cls, status: int, resource_id: uuid.UUID | None, stored: Mapping[str, Any]) -> Answer:
        receipt = stored.get("receipt")
        return cls(
            status=status,
            resource_id=resource_id,
            headers=dict(stored.get("headers") or {}),
            receipt=None
            if receipt is None
            else Receipt(int(receipt["seq"]), str(receipt["leaf_hash"]), str(receipt["note"])),
        )


@dataclass(frozen=True, slots=True)
class Replay:
    """The key was used before and its first request is done: answer :attr:`answer` again.

    When the fingerprint was not known at :meth:`Idempotency.begin` (an upload, whose content
    must be read to be fingerprinted), :meth:`check` it before answering.
    """

    answer: Answer
    fingerprint: str | None

    def check(self, fingerprint: str) -> None:
        """Raise :class:`KeyReused` (422) unless this is the request the key was first used for."""
        if self.fingerprint != fingerprint:
            raise KeyReused(
                "this Idempotency-Key was used for another request; use a new key for a new request"
            )


class Idempotency:
    """One caller's keys for one operation (``document.upload``, ``share.create``,
    ``upload.create``): :meth:`begin` claims a key or finds its first answer."""

    def __init__(
        self,
        engine: Engine,
        *,
        caller: str,
        operation: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lease: timedelta = LEASE,
    ) -> None:
        self._engine = engine
        self._caller = caller
        self._operation = operation
        self._clock = clock
        self._lease = lease

    def begin(self, key: str, fingerprint: str | None) -> Replay | Claim:
        """A :class:`Claim` on ``key`` to do the work under, or the :class:`Replay` of its first
        answer. Raises :class:`KeyInProgress` (409) while the key's first request runs, and
        :class:`KeyReused` (422) when ``fingerprint`` is another request's.

        Runs and commits in a transaction of its own: never call it while the request's session
        holds SQLite's writer lock (before the request has written anything, it does not).
        """
        scope: Scope = (self._caller, self._operation, key_hash(key))
        now = self._clock()
        token = uuid.uuid4()
        claim_values: dict[str, Any] = {
            "token": token,
            "state": IN_PROGRESS,
            "fingerprint": fingerprint,
            "status": None,
            "resource_id": None,
            "answer": None,
            "created_at": now,
            "lease_until": now + self._lease,
            "expires_at": now + LIFETIME,
        }
        # Twice at most: a row released (or swept) between the insert and the select is gone,
        # and the key free again.
        for _ in range(2):
            begun = self._begin_once(scope, claim_values)
            if begun is not None:
                break
        else:
            raise KeyInProgress(_IN_PROGRESS)
        if isinstance(begun, Replay) and fingerprint is not None:
            begun.check(fingerprint)
        return begun

    def _begin_once(self, scope: Scope, values: dict[str, Any]) -> Replay | Claim | None:
        token, fingerprint, now = values["token"], values["fingerprint"], values["created_at"]
        with db.transaction(self._engine) as session:
            if repository.insert_claim(session, scope, values):
                return self._claim(scope, token, fingerprint)
            row = repository.locked(session, scope)
            if row is None:
                return None
            lapsed = row.state == IN_PROGRESS and as_utc(row.lease_until) <= now
            if as_utc(row.expires_at) <= now or lapsed:
                # A new key again (its day is over), or a crashed request's claim: take it over.
                for name, value in values.items():
                    setattr(row, name, value)
                session.add(row)
                return self._claim(scope, token, fingerprint)
            if row.state != DONE or row.status is None:
                raise KeyInProgress(_IN_PROGRESS)
            answer = Answer.of(row.status, row.resource_id, row.answer or {})
            return Replay(answer, row.fingerprint)

    def _claim(self, scope: Scope, token: uuid.UUID, fingerprint: str | None) -> Claim:
        return Claim(self._engine, scope, token, fingerprint, clock=self._clock, lease=self._lease)


class Claim:
    """The right to do the work of a key's first request, and to store its answer."""

    def __init__(
        self,
        engine: Engine,
        scope: Scope,
        token: uuid.UUID,
        fingerprint: str | None,
        *,
        clock: Callable[[], datetime],
        lease: timedelta,
    ) -> None:
        self._engine = engine
        self._scope = scope
        self._token = token
        self.fingerprint = fingerprint
        self._clock = clock
        self._lease = lease

    def bind(self, session: Session) -> None:
        """Delete this claim, unless it was completed and committed, once ``session``'s
        (outermost) transaction ends: the request's, whatever its outcome. Call it before the
        request's work; the claim is then never left behind by a failed request."""
        session.info.setdefault(_BOUND, []).append(self)

    def complete(self, session: Session, answer: Answer, *, fingerprint: str | None = None) -> None:
        """Store ``answer`` in the request's transaction (kept exactly when the work is).

        ``fingerprint`` is the request's, when it was not known at :meth:`Idempotency.begin`.
        Raises :class:`KeyInProgress` if the claim was taken over meanwhile (its lease lapsed):
        the other request's work stands, and this one's is rolled back.
        """
        if fingerprint is not None:
            self.fingerprint = fingerprint
        if self.fingerprint is None:
            raise ValueError("a completed claim needs the request's fingerprint")
        values = {
            "state": DONE,
            "fingerprint": self.fingerprint,
            "status": answer.status,
            "resource_id": answer.resource_id,
            "answer": answer.stored(),
        }
        if not repository.update_claimed(session, self._scope, self._token, values):
            raise KeyInProgress(_IN_PROGRESS)

    def renew(self) -> bool:
        """Extend the lease from now (a transaction of its own); whether the claim still holds."""
        now = self._clock()
        with db.transaction(self._engine) as session:
            return repository.update_claimed(
                session, self._scope, self._token, {"lease_until": now + self._lease}
            )

    def release(self) -> None:
        """Delete the claim if it is still in progress (a transaction of its own)."""
        with db.transaction(self._engine) as session:
            repository.delete_claim(session, self._scope, self._token)


@event.listens_for(OrmSession, "after_transaction_end")
def _release_bound(session: OrmSession, transaction: SessionTransaction) -> None:
    # The outermost transaction only: by now it has committed or rolled back, and on SQLite it
    # no longer holds the writer lock that the release's own transaction needs.
    if transaction.parent is not None or transaction.nested:
        return
    for claim in session.info.pop(_BOUND, []):
        try:
            claim.release()
        except Exception:
            # The lease frees the key in the end.
            logger.exception("an unfinished Idempotency-Key claim could not be released")


def sweep_expired(engine: Engine, *, now: datetime | None = None) -> int:
    """Delete the keys whose 24 hours are over; how many. Every replica runs it periodically."""
    with db.transaction(engine) as session:
        return repository.delete_expired(session, now=now or datetime.now(UTC))
