"""What auditors, and partners of the log's public parts, may ask of the trail, each answer
recorded as an audit event itself.

Auditors (``audit:read``) read everything. Every other authenticated caller reads the log's
public parts: the audit keys, the latest checkpoint, consistency proofs, and an event with its
inclusion proof only when it was that event's actor (:meth:`AuditQueries.event`), so a partner
can verify the receipts it was given without seeing what other parties did (decision 0030).

Every read is recorded in the request's transaction *after* it ran, so an auditor's query never
shows up in its own answer, and is committed before the answer is sent. Cursors are opaque:
base64url of the last ``seq`` seen and a fingerprint of the query's filters and order, so a
cursor replayed against another query (or the other order) is refused rather than silently
paging the wrong results.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass
from datetime import date
from typing import Final

from sqlmodel import Session

from audit import checkpoints, log
from audit.events import LEAF_FIELDS, Action, ldv_status
from audit.models import AuditEvent
from audit.pseudonyms import SUBJECT_TYPE
from auth.scopes import Scope
from hub.auditing import repository
from hub.auditing.repository import EventFilter, Order
from hub.auditing.schemas import (
    AuditKeyOut,
    AuditKeysOut,
    CheckpointOut,
    ConsistencyOut,
    EventOut,
    EventPage,
    InclusionOut,
    SubjectReportOut,
)
from hub.auditing.stats import AuditStats, compute, period
from hub.core import db
from hub.core.errors import Forbidden, HubError, NotFound, Unprocessable
from hub.runtime import Services
from hub.trail.auditor import Auditor, b64
from hub.trail.context import Actor
from hub.trail.recorder import NOTHING, About
from hub.web.pagination import Page, seq_position
from hub.web.recording import Call, RecordingService

EXPORT_BATCH: Final = 1000
MAX_SEQ: Final = 2**53 - 1
"""The largest ``seq`` the API takes or issues (one a JSON number holds exactly)."""
CSV_COLUMNS: Final = ("seq", "leaf_hash", "status", *LEAF_FIELDS[1:])
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r", "'")
CSV_TEXT_COLUMNS: Final = frozenset(
    {
        "actor_id",
        "organisation",
        "resource_type",
        "resource_id",
        "processing_activity_id",
        "policy_rule",
        "source_address",
        "detail",
    }
)
"""The columns that can carry text a caller chose, and so a spreadsheet formula: only these
are escaped (docs/api.md). Hashes (base64, which may start with ``+``), times, numbers,
outcomes, hex ids and pseudonyms are exported exactly as the leaf holds them, so every row
still hashes to its ``leaf_hash``."""
CSV_SEPARATORS: Final = (",", ";")
"""The CSV separators: comma (the default, for tools) and semicolon (for Dutch Excel)."""
_ESCAPED: Final = tuple(name in CSV_TEXT_COLUMNS for name in CSV_COLUMNS)


# -- cursors ------------------------------------------------------------------------------------


def _query(where: EventFilter, order: Order) -> tuple[object, ...]:
    """What a cursor is bound to: the filters and the order."""
    return (*astuple(where), order)


def _after(cursor: str | None, where: EventFilter, order: Order) -> int | None:
    """The last ``seq`` of the previous page; a cursor of another query or shape is 400."""
    return seq_position(cursor, _query(where, order), most=MAX_SEQ)


# -- shapes -------------------------------------------------------------------------------------


def event_out(row: AuditEvent) -> EventOut:
    return EventOut(
        seq=row.seq,
        leaf_hash=b64(row.leaf_hash),
        status=ldv_status(row.outcome),
        leaf=repository.leaf_of(row),
    )


def checkpoint_out(signed: checkpoints.SignedCheckpoint) -> CheckpointOut:
    return CheckpointOut(
        note=signed.note,
        tree_size=signed.tree_size,
        root_hash=b64(signed.root_hash),
        signed_at=signed.signed_at,
    )


def _page(
    session: Session, where: EventFilter, cursor: str | None, limit: int, order: Order = "asc"
) -> tuple[list[EventOut], str | None]:
    after = _after(cursor, where, order)
    rows = repository.page(session, where, after=after, limit=limit + 1, order=order)
    page = Page.of(rows, limit=limit, query=_query(where, order), after=lambda row: row.seq)
    return [event_out(r) for r in page.items], page.next_cursor


# -- queries -------------------------------------------------------------------------------------


class AuditQueries(RecordingService):
    """The auditor API's operations, for one request: its transaction, caller and recorder.

    ``purposes`` are the policy's processing-activity codes, so that statistics name a
    purpose by its code (:func:`audit_queries` passes the policy in force)."""

    def __init__(self, call: Call, auditor: Auditor, purposes: Iterable[str] = ()) -> None:
        super().__init__(call)
        self.auditor = auditor
        self.purposes = tuple(purposes)

    def _refuse(self, error: HubError, about: About) -> HubError:
        """Record a refused query; the request's transaction keeps that record as it fails."""
        return self.refuse(error, Action.AUDIT_QUERY, about, detail=error.message[:200])

    def events(
        self, where: EventFilter, *, cursor: str | None, limit: int, order: Order = "asc"
    ) -> EventPage:
        """One page of the matching events: ``asc`` in log order (oldest first), ``desc``
        newest first; ``cursor`` continues a page of the same filters and order."""
        items, next_cursor = _page(self.session, where, cursor, limit, order)
        self.record(Action.AUDIT_QUERY, About("audit_log"), detail=_describe(where))
        return EventPage(items=items, next_cursor=next_cursor)

    @property
    def reads_everything(self) -> bool:
        """Whether the caller is an auditor (``audit:read``); else it reads the public parts."""
        return Scope.AUDIT_READ in self.caller.principal.scopes

    def _acted(self, row: AuditEvent) -> bool:
        """Whether the caller is ``row``'s actor: the same client of the same issuer (``None``
        for the hub's own clients), or the same person."""
        actor = Actor.of(self.caller.principal)
        return (row.actor_type, row.actor_id, row.actor_issuer) == (
            actor.type,
            actor.id,
            actor.issuer,
        )

    def event(self, seq: int) -> InclusionOut:
        """Event ``seq`` with its inclusion proof against the latest checkpoint: any event for
        an auditor, only its own for anyone else (403 for another's: the seq lies below the
        public tree size, so its existence is no secret; its leaf is)."""
        row = repository.get(self.session, seq)
        if row is None:
            error = NotFound(f"no audit event with seq {seq}")
            raise self._refuse(error, About("audit_event"))
        if not self.reads_everything and not self._acted(row):
            refusal = Forbidden(
                f"audit event {seq} is not one of the caller's own; without audit:read a "
                "caller reads only the events it was the actor of"
            )
            raise self._refuse(refusal, About("audit_event", str(seq)))
        self.record(Action.AUDIT_QUERY, About("audit_event", str(seq)))
        signed = self._checkpoint_covering(seq + 1)
        proof = log.inclusion_proof(self.session.connection(), seq, signed.tree_size)
        return InclusionOut(
            event=event_out(row),
            leaf_index=seq,
            tree_size=signed.tree_size,
            hashes=[b64(h) for h in proof],
            checkpoint=checkpoint_out(signed),
        )

    def _checkpoint_covering(self, size: int) -> checkpoints.SignedCheckpoint:
        """The newest checkpoint, signed now if none covers ``size`` events yet."""
        signed = checkpoints.latest(self.session.connection())
        if signed is None or signed.tree_size < size:
            signed, _ = self.auditor.checkpoint(self.session)
        if signed is None:  # pragma: no cover - the query's own event makes the log non-empty
            raise NotFound("the audit log is empty")
        return signed

    def latest_checkpoint(self) -> CheckpointOut:
        self.record(Action.AUDIT_QUERY, About("checkpoint", "latest"))
        return checkpoint_out(self._checkpoint_covering(1))

    def consistency(self, size1: int, size2: int) -> ConsistencyOut:
        if size1 > size2:
            error = Unprocessable(f"from ({size1}) must not be larger than to ({size2})")
            raise self._refuse(error, About("consistency"))
        size = log.AuditLog.size(self.session.connection())
        if size2 > size:
            error = Unprocessable(f"to ({size2}) is larger than the log ({size} events)")
            raise self._refuse(error, About("consistency"))
        proof = log.consistency_proof(self.session.connection(), size1, size2)
        self.record(Action.AUDIT_QUERY, About("consistency", f"{size1}-{size2}"))
        return ConsistencyOut.model_validate(
            {"from": size1, "to": size2, "hashes": [b64(h) for h in proof]}
        )

    def keys(self) -> AuditKeysOut:
        rows = self.auditor.keys.published(self.session)
        keys = []
        for index, row in enumerate(rows):
            name, key_id, _ = row.key_id.split("+", 2)
            keys.append(
                AuditKeyOut(
                    name=name,
                    key_id=key_id,
                    public_key=b64(row.public_key or b""),
                    verifier_key=row.key_id,
                    created_at=row.created_at,
                    current=index == 0,
                )
            )
        self.record(Action.AUDIT_QUERY, About("audit_key"))
        return AuditKeysOut(origin=self.auditor.keys.origin, keys=keys)

    def subject_report(self, v_number: str, *, cursor: str | None, limit: int) -> SubjectReportOut:
        pseudonym = self.auditor.pseudonym(v_number)
        where = EventFilter(data_subject_id=pseudonym)
        items, next_cursor = _page(self.session, where, cursor, limit)
        self.record(Action.AUDIT_SUBJECT_REPORT, NOTHING.of(v_number=v_number))
        return SubjectReportOut(
            data_subject_id=pseudonym,
            data_subject_id_type=SUBJECT_TYPE,
            items=items,
            next_cursor=next_cursor,
        )

    def stats(self, since_day: date, until_day: date) -> AuditStats:
        """The chart figures of the days ``since_day`` to ``until_day`` (both included, in
        Europe/Amsterdam, at most 92): see :mod:`hub.auditing.stats`."""
        about = About("audit_stats")
        try:
            period(since_day, until_day)
        except Unprocessable as error:
            raise self._refuse(error, about) from None
        uris = {self.auditor.purpose_uri(code): code for code in self.purposes}
        figures = compute(self.session, since_day, until_day, uris)
        self.record(Action.AUDIT_QUERY, about, detail=f"{since_day}..{until_day}")
        return figures

    def export(
        self,
        where: EventFilter,
        fmt: str,
        *,
        separator: str = ",",
        bom: bool = False,
        order: Order = "asc",
    ) -> Iterator[str]:
        """Record the export, then stream every matching event up to the log's current end.

        CSV comes with ``separator`` between cells (``,`` for tools, ``;`` for Dutch Excel,
        which reads a comma as the decimal sign) and, with ``bom``, a UTF-8 byte order mark
        first, by which Excel knows the encoding. JSON Lines takes neither."""
        if separator not in CSV_SEPARATORS:
            raise ValueError(f"separator must be one of {CSV_SEPARATORS}")
        upto = log.AuditLog.size(self.session.connection())
        self.record(Action.AUDIT_EXPORT, About("audit_log"), detail=f"{fmt}; {_describe(where)}")
        csv_form = CsvForm(separator, bom) if fmt == "csv" else None
        return _stream(self.auditor, where, upto, csv_form, order)


def audit_queries(call: Call, services: Services) -> AuditQueries:
    """The auditor's queries for one call, with the purposes of the policy in force: the
    ``build`` of the API's ``Serving`` and of the console's ``PageServing``."""
    return AuditQueries(call, services.audit, services.policy.purposes)


def _describe(where: EventFilter) -> str:
    given = [name for name, value in zip(_FILTER_NAMES, astuple(where), strict=True) if value]
    return "filters: " + (", ".join(given) if given else "none")


_FILTER_NAMES: Final = tuple(EventFilter.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class CsvForm:
    separator: str = ","
    bom: bool = False


def _stream(
    auditor: Auditor, where: EventFilter, upto: int, csv_form: CsvForm | None, order: Order
) -> Iterator[str]:
    """Batches in short read-only transactions of their own: the request's session is closed
    once the answer starts, and memory stays constant however long the trail is. JSON Lines
    when ``csv_form`` is ``None``."""
    after: int | None = None
    if csv_form is not None:
        yield ("\ufeff" if csv_form.bom else "") + _csv_line(CSV_COLUMNS, csv_form.separator)
    while True:
        with db.transaction(db.read_only(auditor.engine)) as session:
            rows = repository.page(
                session, where, after=after, limit=EXPORT_BATCH, upto=upto, order=order
            )
            chunk = [
                _jsonl(r) if csv_form is None else _csv_row(r, csv_form.separator) for r in rows
            ]
        if not rows:
            return
        after = rows[-1].seq
        yield "".join(chunk)


def _jsonl(row: AuditEvent) -> str:
    return json.dumps(event_out(row).model_dump(), ensure_ascii=False, separators=(",", ":")) + "\n"


def _csv_row(row: AuditEvent, separator: str) -> str:
    leaf = repository.leaf_of(row)
    values: Sequence[object] = (
        row.seq,
        b64(row.leaf_hash),
        ldv_status(row.outcome),
        *(leaf.get(name, "") for name in LEAF_FIELDS[1:]),
    )
    return _csv_line(values, separator, escape=_ESCAPED)


def _csv_line(values: Sequence[object], separator: str, *, escape: Sequence[bool] = ()) -> str:
    """One CSV line. A text cell (``escape``) that starts with = + - @ tab or CR is a formula
    to a spreadsheet (CSV injection): it gets a leading ``'``, as does one that starts with
    ``'`` itself, so a reader drops exactly one leading ``'`` from a text cell to get the leaf's
    value back."""
    buffer = io.StringIO()
    cells = [
        f"'{value}"
        if text and isinstance(value, str) and value.startswith(_FORMULA_START)
        else value
        for value, text in zip(values, escape or [False] * len(values), strict=True)
    ]
    csv.writer(buffer, delimiter=separator, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()
