"""Who may read one document, and by which rule; and the one way a reader finds a document.

A live document is readable by an organisation when, in this order:

1. the sharing policy lets it read the document (by code, by kind, or as the uploader); or
2. it may receive documents of the type (``share_to``) and holds an active share that reaches
   the document (of the document itself, or of its case and type; see
   :mod:`hub.access.repository` for "active" and "reaches"), whose grantor may, under the
   policy in force now, share the document.

A share never grants more than the policy allows today: a policy change that takes the right to
receive from the grantee, or the right to share from the grantor, ends the share's effect at
once, as disabling the grantor organisation does. The decision names the rule (``policy_rule``
in the audit trail) and, for a share, the share and its purpose.

:func:`resolve_visible` is what every reader of a single document calls (documents, shares,
policy explain): it answers a missing id and a document the caller may not see alike, **with
the same queries**, so neither the answer nor its timing tells them apart (decision 0010).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlmodel import Session

from hub.access import repository
from hub.rules.model import Party, Policy, PolicyAction
from hub.tables.documents import Document

DOCUMENT_DELETED: Final = "document-deleted"
"""The rule recorded when the document asked for was crypto-shredded."""


@dataclass(frozen=True, slots=True)
class Access:
    """A decision about one document: allowed or not, the rule, and a share's purpose."""

    allowed: bool
    rule: str
    purpose: str | None = None
    share_id: uuid.UUID | None = None


def read_access(
    session: Session, *, policy: Policy, party: Party, document: Document, now: datetime
) -> Access:
    """May ``party`` read ``document`` at ``now``? See the module docstring for the rule.

    The shares are looked up whenever the policy alone does not allow the read, whether or not
    the party may receive the type, so that every refusal costs one query.
    """
    if document.deleted_at is not None:
        return Access(allowed=False, rule=DOCUMENT_DELETED)
    decision = policy.decide(
        party, PolicyAction.READ, document.document_type, uploader=document.uploader
    )
    if decision.allowed:
        return Access(allowed=True, rule=decision.rule)
    shares = repository.covering_shares(session, grantee=party.code, document=document, now=now)
    if not policy.may_receive(party, document.document_type).allowed:
        return Access(allowed=False, rule=decision.rule)
    for share, grantor_kind in shares:
        may_share = policy.decide(
            Party(share.grantor, grantor_kind),
            PolicyAction.SHARE,
            document.document_type,
            uploader=document.uploader,
        )
        if may_share.allowed:
            return Access(
                allowed=True, rule=f"share[{share.id}]", purpose=share.purpose, share_id=share.id
            )
    return Access(allowed=False, rule=decision.rule)


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a reader of one document learns about an id."""

    document: Document | None
    """The document, when the caller may read it; ``None`` when it is missing, deleted or
    not visible to the caller. The only field a caller may act on or show."""
    access: Access
    """The decision; for a missing id, the one reached against the stand-in (a denial)."""
    hidden: Document | None = None
    """The row of a document that exists but that the caller may not read (or that was
    deleted): for the refusal's audit record alone, so auditors can tell a hidden document
    from a missing one where the caller cannot. Never shown to the caller."""


def resolve_visible(
    session: Session, *, policy: Policy, party: Party, document_id: uuid.UUID, now: datetime
) -> Resolved:
    """Find ``document_id`` for ``party``: the document if it may read it, else nothing.

    A missing id, a deleted document and a hidden one all run the same two queries (the row,
    then the shares) against the same kind of input: a missing or deleted row is replaced by a
    stand-in that no rule or share can match.
    """
    row = session.get(Document, document_id)
    live = row if row is not None and row.deleted_at is None else None
    access = read_access(
        session,
        policy=policy,
        party=party,
        document=live or _stand_in(document_id),
        now=now,
    )
    if live is not None and access.allowed:
        return Resolved(document=live, access=access)
    if row is not None and live is None:
        access = Access(allowed=False, rule=DOCUMENT_DELETED)
    return Resolved(document=None, access=access, hidden=row)


def _stand_in(document_id: uuid.UUID) -> Document:
    """A document that no rule or share can match: no type, no uploader, no case.

    The empty type is one no policy can name (type names are non-empty), so the policy denies
    by :data:`~hub.rules.model.UNKNOWN_DOCUMENT_TYPE`, and no share the query finds can grant
    (nobody may receive a type the policy does not know). The id is the one asked for, so the
    query is the very one a real document would run.
    """
    never = datetime.min.replace(tzinfo=UTC)
    return Document(
        id=document_id,
        document_type="",
        uploader="",
        uploaded_by="",
        v_index="",
        content_type="",
        size=0,
        sha256="",
        created_at=never,
        retain_until=never,
    )
