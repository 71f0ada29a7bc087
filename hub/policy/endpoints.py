"""``/api/v1/policy``: the policy in force, and why it answers a question the way it does.

Any authenticated caller may read the policy: partners need to know what they may do, and the
policy holds no personal data. ``POST /explain`` answers one question as the hub would decide
it, naming the rule. A caller explains for its own organisation; explaining for another needs
the ``admin`` or ``audit:read`` scope, since it shows what that organisation may see.

The policy is the one the hub loaded at start-up, on ``app.state.services.policy``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session

from auth.dependencies import CurrentPrincipal, current_principal
from auth.scopes import Scope
from auth.tokens import Principal
from hub.access.rule import read_access, resolve_visible
from hub.deps import ServicesDep, SessionDep, StrictQuery
from hub.documents import repository as documents
from hub.documents.models import Document
from hub.errors import Forbidden, NotFound, Unprocessable, problem, problem_responses
from hub.organisations import repository
from hub.policy.model import Decision, Party, Policy, PolicyAction
from hub.policy.schemas import ExplainIn, ExplainOut, PolicyOut
from hub.services import Services

router = APIRouter(
    prefix="/api/v1/policy",
    tags=["policy"],
    responses=problem_responses(not_found=True),
    dependencies=[StrictQuery],
)

_EXPLAIN_FOR_OTHERS = frozenset({Scope.ADMIN, Scope.AUDIT_READ})


def get_policy(request: Request) -> Policy:
    policy: Policy = request.app.state.services.policy
    return policy


PolicyDep = Annotated[Policy, Depends(get_policy)]


@router.get(
    "",
    response_model=PolicyOut,
    summary="The sharing policy in force",
    dependencies=[Depends(current_principal)],
)
def read_policy(policy: PolicyDep) -> PolicyOut:
    return PolicyOut.model_validate(policy.as_dict())


@router.post(
    "/explain",
    response_model=ExplainOut,
    summary="Decide one question as the hub would, and name the rule that decides it",
    responses={
        403: problem("Explaining for another organisation needs admin or audit:read"),
        422: problem("Unknown organisation, or a malformed question"),
    },
)
def explain(
    question: ExplainIn,
    principal: CurrentPrincipal,
    policy: PolicyDep,
    session: SessionDep,
    services: ServicesDep,
) -> ExplainOut:
    if question.document_id is not None:
        document = _document_to_explain(
            session, services, principal, question, question.document_id
        )
        decision = explain_document(
            session,
            policy=policy,
            party=_party(session, question),
            document=document,
            action=question.action,
        )
        document_type = document.document_type
        uploader: str | None = document.uploader
    else:
        decision = explain_decision(session, policy=policy, principal=principal, question=question)
        document_type, uploader = question.document_type or "", question.uploader
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


def _may_ask(principal: Principal, question: ExplainIn) -> None:
    if question.organisation != principal.organisation and not (
        _EXPLAIN_FOR_OTHERS & principal.scopes
    ):
        raise Forbidden("explaining for another organisation needs the admin or audit:read scope")


def _party(session: Session, question: ExplainIn) -> Party:
    organisation = repository.get(session, question.organisation)
    if organisation is None:
        raise Unprocessable(f"unknown organisation {question.organisation!r}")
    return Party(code=organisation.code, kind=organisation.kind)


def _document_to_explain(
    session: Session,
    services: Services,
    principal: Principal,
    question: ExplainIn,
    document_id: uuid.UUID,
) -> Document:
    """The document asked about. A caller asking for its own organisation must be able to see
    it (else 404, missing and hidden alike, with the same queries); admins and auditors may ask
    about any live document."""
    _may_ask(principal, question)
    if _EXPLAIN_FOR_OTHERS & principal.scopes:
        document = documents.get(session, document_id)
        if document is not None and document.deleted_at is None:
            return document
        raise NotFound("no such document")
    document = resolve_visible(
        session,
        policy=services.policy,
        party=_party(session, question),
        document_id=document_id,
        now=datetime.now(UTC),
    ).document
    if document is None:
        raise NotFound("no such document")
    return document


def explain_document(
    session: Session,
    *,
    policy: Policy,
    party: Party,
    document: Document,
    action: PolicyAction,
) -> Decision:
    """The decision on one document: for ``read``, shares included, as a download decides."""
    if action is PolicyAction.READ:
        access = read_access(
            session,
            policy=policy,
            party=party,
            document=document,
            now=datetime.now(UTC),
        )
        return Decision(allowed=access.allowed, rule=access.rule)
    return policy.decide(party, action, document.document_type, uploader=document.uploader)


def explain_decision(
    session: Session, *, policy: Policy, principal: Principal, question: ExplainIn
) -> Decision:
    """The policy's answer to ``question``, after checking the caller may ask it.

    An unknown document type is an answer (denied, ``unknown-document-type``), not an error;
    an unknown organisation is an error, since the policy cannot know its kind.
    """
    _may_ask(principal, question)
    party = _party(session, question)
    if question.uploader is not None and repository.get(session, question.uploader) is None:
        raise Unprocessable(f"unknown uploader organisation {question.uploader!r}")
    document_type = question.document_type or ""
    return policy.decide(party, question.action, document_type, uploader=question.uploader)
