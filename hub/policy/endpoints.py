"""``/api/v1/policy``: the policy in force, and why it answers a question the way it does.

Any authenticated caller may read the policy: partners need to know what they may do, and the
policy holds no personal data. ``POST /explain`` answers one question as the hub would decide
it, naming the rule, and is recorded (:mod:`hub.policy.service`).

The policy is the one the hub loaded at start-up, on ``app.state.services.policy``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from audit.events import Action
from auth.dependencies import current_principal
from hub.policy.schemas import ExplainIn, ExplainOut, PolicyOut
from hub.policy.service import PolicyDeps, PolicyService
from hub.rules.model import Policy
from hub.runtime import Services
from hub.web.caller import Serving
from hub.web.deps import StrictQuery
from hub.web.problems import problem, problem_responses
from hub.web.recording import Call
from hub.web.routes import TokenFirstRoute

router = APIRouter(
    prefix="/api/v1/policy",
    tags=["policy"],
    responses=problem_responses(not_found=True),
    dependencies=[StrictQuery],
    route_class=TokenFirstRoute,
)


def get_policy(request: Request) -> Policy:
    policy: Policy = request.app.state.services.policy
    return policy


PolicyDep = Annotated[Policy, Depends(get_policy)]


def _policy_service(call: Call, services: Services) -> PolicyService:
    return PolicyService(call, PolicyDeps(policy=services.policy))


Explaining = Annotated[
    PolicyService,
    Depends(
        Serving(_policy_service, scope=None, action=Action.POLICY_EXPLAIN, resource_type="policy")
    ),
]


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
def explain(question: ExplainIn, service: Explaining) -> ExplainOut:
    return service.explain(question)
