"""The policy pages: the sharing policy in force, rendered readably, the replicas and the policy
each holds, and the explain tool. One implementation, served at ``/admin/policy`` (scope
``admin``) and ``/audit/policy`` (scope ``audit:read``): judging an access means knowing the rule
that allowed it.

Reading the policy is not recorded (it holds no personal data, as ``GET /api/v1/policy``); a
question to the explain tool is :meth:`hub.policy.service.PolicyService.explain`, recorded as
``policy.explain``, its refusals (an unknown organisation, a document that does not exist) said
on the form with their status.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from hub.core.errors import Forbidden, NotFound, Unprocessable
from hub.directory import organisations_repository
from hub.pages.admin.serving import AdminPolicy, AuditPolicy
from hub.pages.dependencies import check_form
from hub.pages.display import display, page_context
from hub.policy.replicas import GONE_AFTER, replicas
from hub.policy.schemas import ExplainIn, ExplainOut
from hub.policy.service import PolicyService
from hub.rules.model import BUILT_IN_RULES, PolicyAction
from hub.ui.person import CurrentPerson
from hub.ui.rendering import N_, render, translator

router = APIRouter(include_in_schema=False)

ADMIN_BASE: Final = "/admin/policy"
AUDIT_BASE: Final = "/audit/policy"

ACTION_NAMES: Final[Mapping[PolicyAction, str]] = {
    PolicyAction.UPLOAD: N_("upload"),
    PolicyAction.READ: N_("read"),
    PolicyAction.SHARE: N_("share"),
    PolicyAction.DELETE: N_("delete"),
    PolicyAction.RECEIVE: N_("receive a share"),
}
BUILT_IN_NAMES: Final[Mapping[str, str]] = {
    "uploader-reads-own": N_("An organisation always reads the documents it uploaded."),
    "default-deny": N_("Nothing in the policy grants this: denied."),
    "unknown-document-type": N_("The policy does not know this document type: denied."),
}
assert set(BUILT_IN_NAMES) == set(BUILT_IN_RULES)  # noqa: S101 - a new built-in rule needs a name


def _page(
    request: Request,
    service: PolicyService,
    base: str,
    *,
    values: Mapping[str, str] | None = None,
    answer: ExplainOut | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    policy = service.deps.policy
    services = request.app.state.services
    settings = services.settings
    _ = translator(request)
    organisations = organisations_repository.list_all(service.session)
    return render(
        request,
        "pages/admin/policy.html",
        page_context(
            request,
            base=base,
            policy=policy,
            loaded_at=services.policy_loaded_at,
            purpose_uri=settings.purpose_uri,
            replicas=replicas(service.session, policy_hash=policy.hash, now=datetime.now(UTC)),
            gone_minutes=int(GONE_AFTER.total_seconds() // 60),
            actions=list(PolicyAction),
            action_names=ACTION_NAMES,
            built_in=BUILT_IN_NAMES,
            organisation_options=[(o.code, f"{o.name} ({o.code})") for o in organisations],
            action_options=[(a.value, _(ACTION_NAMES[a])) for a in PolicyAction],
            type_options=[
                ("", ""),
                *((n, display(request).document_type(n)) for n in policy.document_types),
            ],
            values=values or {},
            answer=answer,
            errors=errors or [],
        ),
        status_code=status_code,
    )


@router.get(ADMIN_BASE, response_class=HTMLResponse)
def admin_policy(request: Request, service: AdminPolicy) -> HTMLResponse:
    return _page(request, service, ADMIN_BASE)


@router.get(AUDIT_BASE, response_class=HTMLResponse)
def audit_policy(request: Request, service: AuditPolicy) -> HTMLResponse:
    return _page(request, service, AUDIT_BASE)


async def _explain(
    request: Request, service: PolicyService, person: CurrentPerson, base: str
) -> Response:
    form = await request.form()
    check_form(request, person, dict(form.multi_items()))
    _ = translator(request)
    values = {
        k: v.strip()
        for k, v in form.multi_items()
        if isinstance(v, str) and k in ("organisation", "action", "document_type", "document_id")
    }

    def again(message: str, status_code: int) -> HTMLResponse:
        return _page(
            request, service, base, values=values, errors=[message], status_code=status_code
        )

    document_id: uuid.UUID | None = None
    if values.get("document_id"):
        try:
            document_id = uuid.UUID(values["document_id"])
        except ValueError:
            return again(_("A document id is a UUID, as the audit trail shows it."), 422)
    try:
        question = ExplainIn(
            organisation=values.get("organisation", ""),
            action=PolicyAction(values.get("action", "")),
            document_type=None if document_id else values.get("document_type") or None,
            document_id=document_id,
        )
    except (ValidationError, ValueError):
        return again(
            _("Choose an organisation, an action, and a document type or a document."), 422
        )
    try:
        answer = service.explain(question)
    except NotFound:
        return again(_("There is no such document."), 404)
    except (Unprocessable, Forbidden) as exc:
        return again(
            _("The question could not be answered: choose an organisation from the list."),
            exc.status_code,
        )
    return _page(request, service, base, values=values, answer=answer)


@router.post(f"{ADMIN_BASE}/explain", response_class=HTMLResponse)
async def admin_explain(request: Request, service: AdminPolicy, person: CurrentPerson) -> Response:
    return await _explain(request, service, person, ADMIN_BASE)


@router.post(f"{AUDIT_BASE}/explain", response_class=HTMLResponse)
async def audit_explain(request: Request, service: AuditPolicy, person: CurrentPerson) -> Response:
    return await _explain(request, service, person, AUDIT_BASE)
