"""Who may see a document, and by which rule: the one place this is decided for one document.

A live document is visible to an organisation when, in this order:

1. the sharing policy lets it read the document (by code, by kind, or as the uploader); or
2. it holds an active share of the document itself; or
3. it holds an active case share that covers the document's case and type (and, where the
   grantor may share only its own uploads, was uploaded by the grantor).

For a share, the policy is decided again now, for the grantor (may it still share this?) and for
the grantee (may it still receive this type?): a share never grants more than the policy allows.
The decision names the rule (``policy_rule`` in the audit trail) and, for a share, the share's
purpose.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from hub.documents import repository
from hub.documents.models import Document
from hub.organisations.directory import OrganisationDirectory
from hub.policy.model import Party, Policy, PolicyAction
from hub.shares.models import Share


@dataclass(frozen=True, slots=True)
class Access:
    """A decision about one document: allowed or not, the rule, and a share's purpose."""

    allowed: bool
    rule: str
    purpose: str | None = None
    share_id: uuid.UUID | None = None


def read_access(
    session: Session,
    *,
    policy: Policy,
    directory: OrganisationDirectory,
    party: Party,
    document: Document,
    now: datetime,
) -> Access:
    if document.deleted_at is not None:
        return Access(allowed=False, rule="document-deleted")
    decision = policy.decide(
        party, PolicyAction.READ, document.document_type, uploader=document.uploader
    )
    if decision.allowed:
        return Access(allowed=True, rule=decision.rule)
    shares = [
        *repository.active_document_shares(session, grantee=party.code, document=document, now=now),
        *repository.active_case_shares(session, grantee=party.code, document=document, now=now),
    ]
    receives = policy.may_receive(party, document.document_type).allowed
    for share in shares if receives else ():
        if _grantor_may_share(policy, directory, share, document):
            return Access(
                allowed=True, rule=f"share[{share.id}]", purpose=share.purpose, share_id=share.id
            )
    return Access(allowed=False, rule=decision.rule)


def _grantor_may_share(
    policy: Policy, directory: OrganisationDirectory, share: Share, document: Document
) -> bool:
    known = directory.get(share.grantor)
    if known is None or not known.enabled:
        return False
    decision = policy.decide(
        Party(share.grantor, known.kind),
        PolicyAction.SHARE,
        document.document_type,
        uploader=document.uploader,
    )
    return decision.allowed
