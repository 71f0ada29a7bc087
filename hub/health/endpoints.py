"""``GET /healthz`` (liveness) and ``GET /readyz`` (readiness)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hub.health import service
from hub.health.schemas import Liveness, ReadinessReport
from hub.web.deps import ServicesDep
from hub.web.problems import PROBLEM_TYPE_BASE, problem_response

router = APIRouter(tags=["operations"])

_NOT_READY: dict[int | str, dict[str, Any]] = {
    HTTPStatus.SERVICE_UNAVAILABLE: {
        "description": "A dependency failed; the problem document names which.",
        "content": {"application/problem+json": {}},
    }
}


@router.get("/healthz", response_model=Liveness, summary="Liveness: the process answers")
def healthz() -> Liveness:
    # Deliberately checks nothing else: a database outage must not make the orchestrator
    # restart every replica. Readiness is the probe that looks at dependencies.
    return Liveness(status="ok")


@router.get(
    "/readyz",
    response_model=ReadinessReport,
    summary="Readiness: database, object store, key ring and audit keys all work",
    responses=_NOT_READY,
)
def readyz(services: ServicesDep) -> ReadinessReport | JSONResponse:
    result = service.check(services)
    if not result.ready:
        return problem_response(
            status=HTTPStatus.SERVICE_UNAVAILABLE,
            title="Service Unavailable",
            detail="not ready: " + ", ".join(sorted(result.failures)),
            type_=PROBLEM_TYPE_BASE + "not-ready",
            instance="/readyz",
            extra={"checks": {**result.checks, **result.failures}},
            headers={"Retry-After": "5"},
        )
    return ReadinessReport(
        status="ready",
        checks=result.checks,
        key_ids=result.key_ids,
        policy_hash=result.policy_hash,
    )
