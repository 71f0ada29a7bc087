"""The SQL of shares: when a share is active, what it reaches, and the shares that cover one
document; and the lock that holds a live document still while it is deleted or shared.

These clauses are written once and used by both forms of the rule: the query
:func:`covering_shares` that the rule for one document (:mod:`hub.access.rule`) runs, and the
filter every list runs (:mod:`hub.access.listing`). Each takes the document's columns or a
document's values alike, so the two forms cannot drift apart on what "active" or "covers" means.

A share is **active** while it is neither revoked nor expired and its grantor organisation is
enabled. Shares belong to the granting organisation, not to the client that made them
(DESIGN.md): a disabled organisation grants nothing, while disabling one of its clients ends
only that client's tokens and changes nothing here. The grantor's state and kind are read from
the organisation table in the same query, never from a cache, so a list and a single read in
the same instant see the same organisations.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from hub.tables.documents import Document
from hub.tables.organisations import Organisation, OrganisationKind
from hub.tables.shares import Share, ShareType

Value = Mapped[str] | str
"""A document's column (in a filter over many documents) or its value (for one document)."""


def grantor_is_share_grantor() -> ColumnElement[bool]:
    """Joins :class:`Organisation` to the share's grantor; :func:`active` reads it."""
    return col(Organisation.code) == col(Share.grantor)


def active(now: datetime) -> ColumnElement[bool]:
    """Neither revoked nor expired at ``now``, and granted by an enabled organisation.

    Needs :class:`Organisation` joined as the grantor (:func:`grantor_is_share_grantor`).
    """
    return and_(
        col(Share.revoked_at).is_(None),
        col(Share.expires_at) > now,
        col(Organisation.enabled).is_(True),
    )


def shares_document(document_id: Mapped[uuid.UUID] | uuid.UUID) -> ColumnElement[bool]:
    """A share of that one document."""
    return col(Share.document_id) == document_id


def shares_case(*, v_index: Value, document_type: Value, uploader: Value) -> ColumnElement[bool]:
    """A case share that reaches a document of that case, type and uploader.

    A share whose grantor could share only its own uploads of the type when it was made
    (``own_only``) reaches only the documents that grantor uploaded.
    """
    reaches_type = (
        exists()
        .where(
            col(ShareType.share_id) == col(Share.id),
            col(ShareType.document_type) == document_type,
            or_(col(ShareType.own_only).is_(False), col(Share.grantor) == uploader),
        )
        # Everything but share_type comes from the enclosing queries, however deep: left to
        # itself, SQLAlchemy correlates only to the query right around it, and a list filter's
        # document (two levels up) would become a cross join here.
        .correlate_except(ShareType)
    )
    return and_(col(Share.v_index) == v_index, reaches_type)


def covering_shares(
    session: Session, *, grantee: str, document: Document, now: datetime
) -> Sequence[tuple[Share, OrganisationKind]]:
    """The active shares to ``grantee`` that reach ``document``, oldest first, each with its
    grantor's kind (the policy decides the grantor by code *and* kind).

    One query whatever the document: a stand-in that matches nothing costs the same as a real
    document that no share reaches.
    """
    reaches = or_(
        shares_document(document.id),
        shares_case(
            v_index=document.v_index,
            document_type=document.document_type,
            uploader=document.uploader,
        ),
    )
    statement = (
        select(Share, Organisation.kind)
        .join(Organisation, grantor_is_share_grantor())
        .where(col(Share.grantee) == grantee, active(now), reaches)
        .order_by(col(Share.created_at), col(Share.id))
    )
    return [(share, OrganisationKind(kind)) for share, kind in session.exec(statement).all()]


def lock_live(session: Session, document_id: uuid.UUID) -> Document | None:
    """The document, if it is still live, locked for the rest of the transaction; else ``None``.

    A delete and a share of one document take this lock before they act: on PostgreSQL a
    second one waits for the first to commit and then reads the row again (READ COMMITTED), so
    of concurrent deletes exactly one shreds, and no share is made of a document that is
    being shredded. SQLite needs no lock (its transactions begin ``IMMEDIATE``, one writer at
    a time) and SQLAlchemy leaves the clause out there; the second read is harmless.
    """
    statement = (
        select(Document)
        .where(col(Document.id) == document_id, col(Document.deleted_at).is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).first()
