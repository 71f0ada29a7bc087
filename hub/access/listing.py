"""The rule of :mod:`hub.access.rule` compiled into one SQL filter, for lists and searches.

A list must show exactly the documents that reading one by one would allow: a document listed
but then refused would still have shown its metadata and its v-number. So the filter says
everything the rule says, with the policy compiled in for the one party asking. A live document
of a type the policy knows is in the list when:

1. the party reads every document of its type without a share (``read`` names its code, its
   kind or ``any``); or
2. the party uploaded it and the policy lets an uploader read its own (always, by the built-in
   rule, for every type the policy still knows); or
3. the party may receive its type (``share_to``), and an active share to the party reaches it
   (of the document, or of its case and type) from a grantor that may, under the policy in
   force *now*, share it: the grantor's code, or its kind (read from the organisation table in
   the same query), is in the type's ``share`` list, or the list says ``any``, or it says
   ``uploader`` and the grantor uploaded the document.

Points 1 and 2 and the ``share_to`` test of point 3 depend only on the party and the type, so
they are decided here in Python, with :meth:`~hub.rules.model.Policy.decide` itself, and reach
the database as lists of type names; only what depends on each row (its uploader, its shares'
grantors) is left to SQL. Types whose grantors are granted alike share one clause, so the
statement grows with the number of distinct ``share`` lists, not with the number of types.
The property test (``tests/hub/access/test_access.py``) checks that this filter and the rule
agree on random policies, organisations, documents and shares.

:func:`granting_shares` is point 3 kept per share: which active share grants which live document
to the party. It is built from the very clauses the filter uses, so a feed of what shares made
visible (:mod:`hub.inbox`) cannot disagree with the list; the property test checks it against
the rule's own loop over the covering shares.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, CompoundSelect, and_, false, or_, true, union
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from hub.access.repository import active, grantor_is_share_grantor, shares_case, shares_document
from hub.rules.model import Grantees, Party, Policy, PolicyAction
from hub.tables.documents import Document
from hub.tables.organisations import Organisation
from hub.tables.shares import Share

_REACHED: Final = aliased(Document, name="reached")
"""The documents that shares reach, apart from the list's own rows. Built once: an alias costs
milliseconds to make, and the same alias lets SQLAlchemy reuse the compiled statement."""


def visible_to(
    policy: Policy, party: Party, now: datetime, *, case: str | None = None
) -> ColumnElement[bool]:
    """The SQL form of "``party`` may read this document now" over the ``document`` table.

    ``case`` (a v-number's blind index) is for a search that keeps only that case's documents
    anyway: the shared documents are then looked for in that case alone, not among everything
    shared with the party. It narrows the work, never the answer.
    """
    names = list(policy.document_types)
    readable = sorted(policy.readable_types(party))
    own = [
        n for n in names if policy.decide(party, PolicyAction.READ, n, uploader=party.code).allowed
    ]
    receivable = [n for n in names if policy.may_receive(party, n).allowed]
    ways: list[ColumnElement[bool]] = []
    if readable:
        ways.append(col(Document.document_type).in_(readable))
    if own:
        ways.append(
            and_(col(Document.uploader) == party.code, col(Document.document_type).in_(own))
        )
    shared = _shared_ids(policy, party, now, receivable, case)
    if shared is not None:
        ways.append(col(Document.id).in_(shared))
    return and_(col(Document.deleted_at).is_(None), or_(*ways) if ways else false())


def granting_shares(
    policy: Policy, party: Party, now: datetime
) -> CompoundSelect[tuple[uuid.UUID, uuid.UUID]] | None:
    """``(share_id, document_id)`` (so labelled) for every active share to ``party`` and every
    live document it grants the party now (point 3 of the module docstring, share by share);
    ``None`` when no share can grant the party anything under the policy.

    A document reached by several shares appears once per share, so a caller can tell which
    shares grant it; its other ways in (points 1 and 2) are not considered here.
    """
    receivable = [n for n in policy.document_types if policy.may_receive(party, n).allowed]
    return _reach(
        policy,
        party,
        now,
        receivable=receivable,
        case=None,
        columns=lambda reached: (
            col(Share.id).label("share_id"),
            col(reached.id).label("document_id"),
        ),
        live_only=True,
    )


def _shared_ids(
    policy: Policy, party: Party, now: datetime, receivable: list[str], case: str | None
) -> CompoundSelect[tuple[uuid.UUID]] | None:
    """The ids of the documents an active share to ``party`` reaches from a grantor that may
    share them; ``None`` when no grantor may share any type the party may receive.

    The documents are an alias of their own, so the subquery does not depend on the row of the
    list: the database runs it once per list (as a hashed set), not once per candidate row,
    which matters most for a party that sees few documents among many.
    """
    return _reach(
        policy,
        party,
        now,
        receivable=receivable,
        case=case,
        columns=lambda reached: (col(reached.id),),
        live_only=False,
    )


def _reach(
    policy: Policy,
    party: Party,
    now: datetime,
    *,
    receivable: list[str],
    case: str | None,
    columns: Callable[[type[Document]], tuple[Any, ...]],
    live_only: bool,
) -> CompoundSelect[Any] | None:
    """``columns`` of every (active share to ``party``, document it reaches) pair whose grantor
    may share the document's type, one of ``receivable``; ``None`` when no grantor may.
    ``live_only`` leaves out shredded documents (a list's own filter already does)."""
    reached = _REACHED
    granted = _grantor_may_share(policy, receivable, reached)
    if granted is None:
        return None
    by_share = and_(
        col(Share.grantee) == party.code, grantor_is_share_grantor(), active(now), granted
    )
    if live_only:
        by_share = and_(by_share, col(reached.deleted_at).is_(None))
    if case is not None:
        by_share = and_(by_share, col(reached.v_index) == case)
    by_document = select(*columns(reached)).where(by_share, shares_document(col(reached.id)))
    by_case = select(*columns(reached)).where(
        by_share,
        shares_case(
            v_index=col(reached.v_index),
            document_type=col(reached.document_type),
            uploader=col(reached.uploader),
        ),
    )
    return union(by_document, by_case)


def _grantor_may_share(
    policy: Policy, types: list[str], document: type[Document]
) -> ColumnElement[bool] | None:
    """Whether the share row's grantor may share ``document``, for documents of ``types``;
    ``None`` when no grantor may share any of them (then no share can reach the party)."""
    by_grantees: dict[Grantees, list[str]] = {}
    for name in types:
        by_grantees.setdefault(policy.grantees(name, PolicyAction.SHARE), []).append(name)
    clauses = []
    for grantees, names in by_grantees.items():
        who = _granted(grantees, document)
        if who is not None:
            clauses.append(and_(col(document.document_type).in_(names), who))
    return or_(*clauses) if clauses else None


def _granted(grantees: Grantees, document: type[Document]) -> ColumnElement[bool] | None:
    if grantees.anyone:
        return true()
    who: list[ColumnElement[bool]] = []
    if grantees.codes:
        who.append(col(Share.grantor).in_(sorted(grantees.codes)))
    if grantees.kinds:
        who.append(col(Organisation.kind).in_(sorted(grantees.kinds)))
    if grantees.uploader:
        who.append(col(Share.grantor) == col(document.uploader))
    return or_(*who) if who else None
