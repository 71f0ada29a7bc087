"""Granting, listing and revoking shares, each decided by the policy and recorded.

A share is made by an organisation that the policy lets share (``shares:write`` scope as well),
to an organisation that the policy lets receive, for one of the policy's purposes, until an
expiry no later than the policy's maximum for the types concerned (the strictest of several).
A share that asks for more is refused with 422, never silently shortened.

- A **document share** needs the document to be visible to the grantor (else 404, as anywhere)
  and the grantor to be allowed to share it (else 403).
- A **case share** covers the documents of the given types about one person that the grantor
  itself may share, now and in future: all of them for an organisation the policy names (DTV),
  only its own uploads for one that may share as the uploader. That reach is fixed per type in
  ``share_type``; the policy is decided again on every read as well.
- **The v-number** of a case share is shown to its grantor always, to its grantee only while
  the share is active: a revoked or expired share no longer tells its former grantee whom it
  was about.
- **Revoking** is for the grantor. The grantee sees the share but may not revoke it (403); anyone
  else gets 404. An **administrator** (scope ``admin``, checked by the route) sees every active
  share without its v-number (:meth:`ShareService.every_active`) and may revoke any
  (:meth:`ShareService.revoke_as_administrator`), recorded as ``share.revoke`` with the
  administrator as the actor and ``detail`` saying so. Expired and revoked shares grant nothing
  from that instant, because every read checks ``expires_at`` and ``revoked_at`` in the same
  query that finds the share.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from audit.events import Action
from hub.access.repository import lock_live
from hub.access.rule import resolve_visible
from hub.core.db import as_utc
from hub.core.errors import Forbidden, HubError, NotFound, Unprocessable
from hub.directory.organisations import OrganisationDirectory
from hub.idempotency.keys import AnswerGone, fingerprint
from hub.idempotency.service import Answer
from hub.notifications import outbox
from hub.rules.model import Party, Policy, PolicyAction
from hub.shares import repository
from hub.shares.schemas import ShareIn, ShareOut, ShareState
from hub.subjects.keys import SubjectProtector
from hub.tables.documents import Document
from hub.tables.shares import Share, ShareType
from hub.trail.auditor import Receipt
from hub.trail.recorder import About
from hub.web.pagination import Page, time_id, time_id_position
from hub.web.recording import Call, RecordingService

SHARE: Final = "share"
_NO_SUCH_SHARE: Final = "no such share"


@dataclass(frozen=True, slots=True)
class SharesDeps:
    policy: Policy
    directory: OrganisationDirectory
    protector: Callable[[], SubjectProtector]


def about(share_id: uuid.UUID, v_number: str | None = None) -> About:
    """What an event on one share is about (the person, for a case share)."""
    return About(SHARE, str(share_id), v_number)


class ShareService(RecordingService):
    """The shares of one request, acted on by one caller."""

    def __init__(self, call: Call, deps: SharesDeps) -> None:
        super().__init__(call)
        self.deps = deps

    # -- create --------------------------------------------------------------------------------

    def create(self, request: ShareIn) -> tuple[ShareOut, Receipt]:
        share_id = uuid.uuid4()
        v_number = request.v_number
        document = None
        if request.document_id is not None:
            document = self._shareable_document(request.document_id)
            v_number = self._document_v_number(document.v_number_sealed, document.id)
            types = [document.document_type]
        else:
            types = list(request.document_types or [])

        subject = about(share_id, v_number)

        def invalid(message: str, detail: str) -> HubError:
            return self.refuse(Unprocessable(message), Action.SHARE_CREATE, subject, detail=detail)

        policy = self.deps.policy
        unknown = [name for name in types if policy.document_type(name) is None]
        if unknown:
            raise invalid(f"unknown document type(s): {', '.join(unknown)}", "unknown type")
        grantee = self._grantee(request.grantee, invalid)
        if request.purpose not in policy.purposes:
            raise invalid(
                f"purpose must be one of the policy's processing activities: "
                f"{', '.join(sorted(policy.purposes))}",
                "unknown purpose",
            )
        expires_at = as_utc(request.expires_at)
        if expires_at <= self.now:
            raise invalid("expires_at must lie in the future", "expiry in the past")
        rules, reach = self._decide(types, grantee, document, subject)
        longest = policy.max_share_duration(types)
        if expires_at > self.now + longest:
            raise invalid(
                f"a share of {', '.join(types)} may last at most {longest.days} days",
                "beyond maximum duration",
            )
        protector = self.deps.protector()
        share = Share(
            id=share_id,
            grantor=self.caller.party.code,
            grantee=grantee.code,
            document_id=document.id if document is not None else None,
            v_index=protector.blind_index(v_number) if document is None and v_number else None,
            v_number_sealed=(
                protector.seal(v_number, kind=SHARE, row_id=share_id)
                if document is None and v_number
                else None
            ),
            purpose=request.purpose,
            created_by=self.caller.principal.client_id,
            created_at=self.now,
            expires_at=expires_at,
        )
        self.session.add(share)
        self.session.flush()
        if document is None:
            for name in types:
                self.session.add(
                    ShareType(share_id=share_id, document_type=name, own_only=reach[name] == "own")
                )
            self.session.flush()
        # In this transaction: the grantee is told exactly when the share commits.
        outbox.share_granted(self.session, share, policy=policy, now=self.now)
        receipt = self.record_receipt(
            Action.SHARE_CREATE,
            subject,
            purpose=request.purpose,
            rule=",".join(rules),
            detail=f"to {grantee.code}",
        )
        # The grantor is the caller, whose organisation is enabled: its token just acted.
        out = self._out(share, sorted(types) if document is None else None, v_number, set())
        return out, receipt

    def fingerprint(self, request: ShareIn) -> str:
        """What makes two grant requests the same (an ``Idempotency-Key``'s check): the body's
        fields as parsed, the types as a set, the expiry as an instant, and the v-number only
        as its blind index."""
        v_number = request.v_number
        v_index = None if v_number is None else self.deps.protector().blind_index(v_number)
        return fingerprint(
            {
                "grantee": request.grantee,
                "document_id": None if request.document_id is None else str(request.document_id),
                "v_index": v_index,
                "document_types": sorted(request.document_types or []) or None,
                "purpose": request.purpose,
                "expires_at": as_utc(request.expires_at).isoformat(),
            }
        )

    def created_again(self, answer: Answer) -> tuple[ShareOut, Receipt]:
        """The share an ``Idempotency-Key``'s first request made, as it is now, and that
        request's receipt: a replay shows the same share, records nothing, and keeps no
        v-number of its own (it is rendered from the share's row)."""
        share = (
            None if answer.resource_id is None else repository.get(self.session, answer.resource_id)
        )
        if share is None:  # shares are never deleted; a key cannot outlive its share
            raise self.refuse(
                AnswerGone("the share this Idempotency-Key made no longer exists"),
                Action.SHARE_CREATE,
                About(SHARE),
                detail=AnswerGone.slug,
            )
        if answer.receipt is None:  # every grant's answer is kept with its receipt
            raise RuntimeError("a grant's kept answer has no receipt")
        return self._outs([share])[0], answer.receipt

    def _shareable_document(self, document_id: uuid.UUID) -> Document:
        """The document, if the grantor may see it; 404 (recorded) otherwise, missing and
        hidden alike, with the same queries (:func:`~hub.access.rule.resolve_visible`)."""
        document = resolve_visible(
            self.session,
            policy=self.deps.policy,
            party=self.caller.party,
            document_id=document_id,
            now=self.now,
        ).document
        # Locked, and looked at again, so that a delete running now either finished first (and
        # this is 404) or waits until this share is made; never a share of a shredded document.
        if document is not None and lock_live(self.session, document.id) is not None:
            return document
        raise self.refuse(
            NotFound("no such document"),
            Action.SHARE_CREATE,
            About("document", str(document_id)),
        )

    def _document_v_number(self, sealed: bytes | None, document_id: uuid.UUID) -> str | None:
        if sealed is None:
            return None
        return self.deps.protector().open(sealed, kind="document", row_id=document_id)

    def _grantee(self, code: str, invalid: Callable[[str, str], HubError]) -> Party:
        known = self.deps.directory.get(code)
        if known is None:
            raise invalid(f"unknown organisation {code!r}", "unknown grantee")
        if not known.enabled:
            # It could not use the share: its tokens are refused while it is disabled.
            raise invalid(f"organisation {code} is disabled", "disabled grantee")
        if code == self.caller.party.code:
            raise invalid("an organisation cannot share with itself", "share to self")
        return Party(code, known.kind)

    def _decide(
        self,
        types: Sequence[str],
        grantee: Party,
        document: Document | None,
        subject: About,
    ) -> tuple[list[str], dict[str, str]]:
        """The rules that allow this share, and the grantor's reach per type; 403 otherwise."""
        policy, party = self.deps.policy, self.caller.party
        rules: list[str] = []
        reach: dict[str, str] = {}
        for name in types:
            if document is not None:
                decision = policy.decide(
                    party, PolicyAction.SHARE, name, uploader=document.uploader
                )
                scope = "all" if decision.allowed else "none"
            else:
                scope = policy.share_scope(party, name)
                uploader = party.code if scope == "own" else None
                decision = policy.decide(party, PolicyAction.SHARE, name, uploader=uploader)
            receive = policy.may_receive(grantee, name)
            denied = decision if not decision.allowed else receive if not receive.allowed else None
            if scope == "none" or denied is not None:
                rule = (denied or decision).rule
                who = party.code if not decision.allowed else grantee.code
                what = "share" if not decision.allowed else "receive"
                raise self.refuse(
                    Forbidden(f"the policy does not let {who} {what} documents of type {name}"),
                    Action.SHARE_CREATE,
                    subject,
                    rule=rule,
                    detail=f"to {grantee.code}",
                )
            rules += [decision.rule, receive.rule]
            reach[name] = scope
        return rules, reach

    # -- read ----------------------------------------------------------------------------------

    def _state(self, share: Share, disabled_grantors: set[str]) -> ShareState:
        if share.revoked_at is not None:
            return ShareState.REVOKED
        if as_utc(share.expires_at) <= self.now:
            return ShareState.EXPIRED
        if share.grantor in disabled_grantors:
            return ShareState.SUSPENDED
        return ShareState.ACTIVE

    def _out(
        self,
        share: Share,
        types: list[str] | None,
        v_number: str | None,
        disabled_grantors: set[str],
    ) -> ShareOut:
        state = self._state(share, disabled_grantors)
        if state is not ShareState.ACTIVE and share.grantor != self.caller.party.code:
            # The person's v-number is shown to a grantee only while the share grants: a
            # former grantee keeps seeing that the share existed, not whom it was about.
            v_number = None
        return ShareOut(
            id=share.id,
            grantor=share.grantor,
            grantee=share.grantee,
            document_id=share.document_id,
            v_number=v_number if share.document_id is None else None,
            document_types=types,
            purpose=share.purpose,
            created_at=as_utc(share.created_at),
            expires_at=as_utc(share.expires_at),
            revoked_at=as_utc(share.revoked_at) if share.revoked_at else None,
            state=state,
        )

    def _outs(self, shares: Sequence[Share]) -> list[ShareOut]:
        types = repository.types_of(self.session, [s.id for s in shares])
        disabled = repository.disabled_grantors(self.session, shares)
        protector = self.deps.protector() if shares else None
        items = []
        for share in shares:
            v_number = None
            if (
                share.v_number_sealed is not None
                and protector is not None
                and (
                    share.grantor == self.caller.party.code
                    or self._state(share, disabled) is ShareState.ACTIVE
                )
            ):
                v_number = protector.open(share.v_number_sealed, kind=SHARE, row_id=share.id)
            names = [t.document_type for t in types.get(share.id, [])] or None
            items.append(self._out(share, names, v_number, disabled))
        return items

    def page(
        self, *, role: str | None, active_only: bool, cursor: str | None, limit: int
    ) -> tuple[list[ShareOut], str | None]:
        query = {"role": role, "active": active_only, "org": self.caller.party.code}
        rows = repository.page(
            self.session,
            code=self.caller.party.code,
            granted=role in (None, "granted"),
            received=role in (None, "received"),
            active_at=self.now if active_only else None,
            after=time_id_position(cursor, query),
            limit=limit + 1,
        )
        page = Page.of(rows, limit=limit, query=query, after=lambda r: time_id(r.created_at, r.id))
        self.record(Action.SHARE_LIST, About(SHARE), detail=f"{len(page.items)} shares")
        return self._outs(page.items), page.next_cursor

    def _visible(self, share_id: uuid.UUID, action: Action) -> Share:
        share = repository.get(self.session, share_id)
        code = self.caller.party.code
        if share is None or code not in (share.grantor, share.grantee):
            raise self.refuse(NotFound(_NO_SUCH_SHARE), action, about(share_id))
        return share

    def get(self, share_id: uuid.UUID) -> ShareOut:
        share = self._visible(share_id, Action.SHARE_READ)
        self.record(Action.SHARE_READ, about(share_id))
        return self._outs([share])[0]

    # -- revoke --------------------------------------------------------------------------------

    def revoke(self, share_id: uuid.UUID) -> Receipt:
        share = self._visible(share_id, Action.SHARE_REVOKE)
        if share.grantor != self.caller.party.code:
            raise self.refuse(
                Forbidden("only the granting organisation may revoke a share"),
                Action.SHARE_REVOKE,
                about(share_id),
            )
        return self._revoke(share, detail=f"to {share.grantee}")

    def _revoke(self, share: Share, *, detail: str) -> Receipt:
        """End ``share`` (a revoked one stays as it was) and record ``share.revoke``; the
        v-number is opened for the trail's pseudonym of the person only, never shown."""
        if share.revoked_at is None:
            share.revoked_at = self.now
            share.revoked_by = self.caller.principal.client_id
            self.session.add(share)
            self.session.flush()
            outbox.share_revoked(self.session, share, now=self.now)
        v_number = None
        if share.v_number_sealed is not None:
            v_number = self.deps.protector().open(
                share.v_number_sealed, kind=SHARE, row_id=share.id
            )
        return self.record_receipt(
            Action.SHARE_REVOKE, about(share.id, v_number), purpose=share.purpose, detail=detail
        )

    # -- administration ------------------------------------------------------------------------

    def every_active(
        self,
        *,
        grantor: str | None,
        grantee: str | None,
        purpose: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[ShareOut], str | None]:
        """Every organisation's active shares, for an administrator: never a v-number (an
        administrator reads no personal data), recorded as ``share.list``. The route checks
        the ``admin`` scope."""
        query = {"admin": True, "grantor": grantor, "grantee": grantee, "purpose": purpose}
        rows = repository.every_active(
            self.session,
            active_at=self.now,
            grantor=grantor,
            grantee=grantee,
            purpose=purpose,
            after=time_id_position(cursor, query),
            limit=limit + 1,
        )
        page = Page.of(rows, limit=limit, query=query, after=lambda r: time_id(r.created_at, r.id))
        self.record(
            Action.SHARE_LIST, About(SHARE), detail=f"administrator: {len(page.items)} shares"
        )
        types = repository.types_of(self.session, [s.id for s in page.items])
        items = [
            self._out(
                share, [t.document_type for t in types.get(share.id, [])] or None, None, set()
            )
            for share in page.items
        ]
        return items, page.next_cursor

    def revoke_as_administrator(self, share_id: uuid.UUID) -> Receipt:
        """Revoke any organisation's share (the route checks the ``admin`` scope): 404 for a
        share that does not exist, as for every caller; a revoked one stays as it was."""
        share = repository.get(self.session, share_id)
        if share is None:
            raise self.refuse(NotFound(_NO_SUCH_SHARE), Action.SHARE_REVOKE, about(share_id))
        return self._revoke(
            share, detail=f"administrator's revoke: {share.grantor} to {share.grantee}"
        )
