"""Explaining the policy: one question decided as the hub would decide it, naming the rule.

A caller explains for its own organisation; explaining for another needs the ``admin`` or
``audit:read`` scope, since it shows what that organisation may see. A question about one
document needs the document to be visible to the caller's organisation (else 404, as
anywhere), unless the caller holds one of those scopes.

Every explanation is an audited read (``policy.explain``): the organisation asked about, or the
document, the rule that decided and whether it allows, with outcome ``success``: the question
was answered, whatever the answer. A refused question is recorded with the refusal's outcome
(``denied`` for another organisation without the scope).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from audit.events import Action
from auth.scopes import Scope
from hub.access.rule import read_access, resolve_visible
from hub.core.errors import Forbidden, NotFound, Unprocessable
from hub.directory import organisations_repository as repository
from hub.policy.schemas import ExplainIn, ExplainOut
from hub.rules.model import Decision, Party, Policy, PolicyAction
from hub.tables.documents import Document
from hub.trail.recorder import About
from hub.web.recording import Call, RecordingService

_EXPLAIN_FOR_OTHERS: Final = frozenset({Scope.ADMIN, Scope.AUDIT_READ})
_EXPLAIN: Final = Action.POLICY_EXPLAIN


@dataclass(frozen=True, slots=True)
class PolicyDeps:
    policy: Policy


class PolicyService(RecordingService):
    """The policy questions of one request, asked by one caller."""

    def __init__(self, call: Call, deps: PolicyDeps) -> None:
        super().__init__(call)
        self.deps = deps

    def explain(self, question: ExplainIn) -> ExplainOut:
        policy = self.deps.policy
        subject = (
            About("document", str(question.document_id))
            if question.document_id is not None
            else About("organisation", question.organisation)
        )
        if question.document_id is not None:
            document = self._document_to_explain(question, subject)
            decision = self._explain_document(
                party=self._party(question, subject), document=document, action=question.action
            )
            document_type = document.document_type
            uploader: str | None = document.uploader
        else:
            decision = self._explain_decision(question, subject)
            document_type, uploader = question.document_type or "", question.uploader
        answer = "allowed" if decision.allowed else "denied"
        self.record(
            _EXPLAIN,
            subject,
            rule=decision.rule,
            detail=f"for {question.organisation}, {question.action.value}: {answer}",
        )
        return ExplainOut(
            allowed=decision.allowed,
            rule=decision.rule,
            organisation=question.organisation,
            action=question.action,
            document_type=document_type,
            uploader=uploader,
            document_id=question.document_id,
            policy_hash=policy.hash,
        )

    def _may_ask(self, question: ExplainIn, subject: About) -> None:
        if question.organisation != self.caller.principal.organisation and not (
            _EXPLAIN_FOR_OTHERS & self.caller.principal.scopes
        ):
            raise self.refuse(
                Forbidden(
                    "explaining for another organisation needs the admin or audit:read scope"
                ),
                _EXPLAIN,
                subject,
                detail="another organisation",
            )

    def _party(self, question: ExplainIn, subject: About) -> Party:
        organisation = repository.get(self.session, question.organisation)
        if organisation is None:
            raise self.refuse(
                Unprocessable(f"unknown organisation {question.organisation!r}"),
                _EXPLAIN,
                subject,
                detail="unknown organisation",
            )
        return Party(code=organisation.code, kind=organisation.kind)

    def _document_to_explain(self, question: ExplainIn, subject: About) -> Document:
        """The document asked about. A caller asking for its own organisation must be able to
        see it (else 404, missing and hidden alike, after the same queries:
        :func:`~hub.access.rule.resolve_visible`); admins and auditors may ask about any live
        document."""
        self._may_ask(question, subject)
        document_id = question.document_id
        if document_id is not None and _EXPLAIN_FOR_OTHERS & self.caller.principal.scopes:
            document = self.session.get(Document, document_id)
            if document is not None and document.deleted_at is None:
                return document
        elif document_id is not None:
            visible = resolve_visible(
                self.session,
                policy=self.deps.policy,
                party=self._party(question, subject),
                document_id=document_id,
                now=self.now,
            ).document
            if visible is not None:
                return visible
        raise self.refuse(NotFound("no such document"), _EXPLAIN, subject)

    def _explain_document(
        self, *, party: Party, document: Document, action: PolicyAction
    ) -> Decision:
        """The decision on one document: for ``read``, shares included, as a download decides."""
        if action is PolicyAction.READ:
            access = read_access(
                self.session,
                policy=self.deps.policy,
                party=party,
                document=document,
                now=self.now,
            )
            return Decision(allowed=access.allowed, rule=access.rule)
        return self.deps.policy.decide(
            party, action, document.document_type, uploader=document.uploader
        )

    def _explain_decision(self, question: ExplainIn, subject: About) -> Decision:
        """The policy's answer to ``question``, after checking the caller may ask it.

        An unknown document type is an answer (denied, ``unknown-document-type``), not an
        error; an unknown organisation is an error, since the policy cannot know its kind.
        """
        self._may_ask(question, subject)
        party = self._party(question, subject)
        if (
            question.uploader is not None
            and repository.get(self.session, question.uploader) is None
        ):
            raise self.refuse(
                Unprocessable(f"unknown uploader organisation {question.uploader!r}"),
                _EXPLAIN,
                subject,
                detail="unknown uploader",
            )
        document_type = question.document_type or ""
        return self.deps.policy.decide(
            party, question.action, document_type, uploader=question.uploader
        )
