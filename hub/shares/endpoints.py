"""``/api/v1/shares``: grant, list, read and revoke shares."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from audit.events import Action
from auth.scopes import Scope
from hub.auditing.schemas import ShareMetadataOut
from hub.auditing.subjects import AuditedMetadata, audited_metadata
from hub.idempotency.service import Answer, Replay
from hub.runtime import Services
from hub.shares.schemas import ShareCreated, ShareIn, ShareOut, SharePage
from hub.shares.service import SHARE, SharesDeps, ShareService
from hub.trail.auditor import Receipt
from hub.trail.recorder import About
from hub.web import idempotent
from hub.web.caller import Serving, ServingEither
from hub.web.deps import StrictQuery
from hub.web.links import document_links, share_links
from hub.web.pagination import Cursor, Limit
from hub.web.problems import problem, problem_responses
from hub.web.recording import Call
from hub.web.routes import TokenFirstRoute

router = APIRouter(
    prefix="/api/v1/shares",
    tags=["shares"],
    responses=problem_responses(not_found=True),
    dependencies=[StrictQuery],
    route_class=TokenFirstRoute,
)


def _shares(call: Call, services: Services) -> ShareService:
    return ShareService(
        call,
        SharesDeps(
            policy=services.policy,
            directory=services.organisations,
            protector=services.protector,
        ),
    )


def _serving(scope: Scope, action: Action, *, id_param: str | None = None) -> Serving[ShareService]:
    """The service for a route that needs ``scope``; a refusal is recorded as ``action``."""
    return Serving(_shares, scope=scope, action=action, resource_type="share", id_param=id_param)


Granting = Annotated[ShareService, Depends(_serving(Scope.SHARES_WRITE, Action.SHARE_CREATE))]
Revoking = Annotated[
    ShareService,
    Depends(_serving(Scope.SHARES_WRITE, Action.SHARE_REVOKE, id_param="share_id")),
]
Listing = Annotated[ShareService, Depends(_serving(Scope.DOCUMENTS_READ, Action.SHARE_LIST))]
Reading = Annotated[
    ShareService | AuditedMetadata,
    Depends(
        ServingEither(
            _serving(Scope.DOCUMENTS_READ, Action.SHARE_READ, id_param="share_id"),
            Serving(
                audited_metadata,
                scope=Scope.AUDIT_READ,
                action=Action.AUDIT_QUERY,
                resource_type="share",
                id_param="share_id",
            ),
        )
    ),
]
"""One share: for ``documents:read`` the grantor's or grantee's view, for ``audit:read`` (an
auditor) the metadata of any share (:class:`AuditedMetadata`)."""
ShareId = Annotated[uuid.UUID, Path(description="The share's id")]


@router.post(
    "",
    status_code=201,
    response_model=ShareCreated,
    summary="Share one document, or a person's documents of given types, with an organisation",
    responses={
        201: {
            "description": "The share, and the receipt of its grant",
            "headers": idempotent.CREATED_HEADERS,
            "links": {
                **share_links("$response.body#/id"),
                "GetSharedDocument": document_links("$response.body#/document_id")["GetDocument"],
            },
        },
        400: problem(idempotent.PROBLEMS["400"]),
        403: problem("The policy does not let the caller share this, or the grantee receive it"),
        404: problem("No such document, or not visible to the caller"),
        409: problem(idempotent.PROBLEMS["409"]),
        422: problem(
            "Unknown organisation, type or purpose; expiry in the past or "
            "beyond the policy's maximum; or the `Idempotency-Key` was used for another request"
        ),
    },
    openapi_extra={"parameters": [idempotent.PARAMETER]},
)
def create_share(service: Granting, body: ShareIn, request: Request) -> JSONResponse:
    begun = idempotent.begin(
        service,
        request.headers,
        action=Action.SHARE_CREATE,
        about=About(SHARE),
        fingerprint=service.fingerprint(body),
    )
    if isinstance(begun, Replay):
        again, first_receipt = service.created_again(begun.answer)
        return _created(again, first_receipt, status=begun.answer.status, replayed=begun.answer)
    share, receipt = service.create(body)
    location = {"Location": f"/api/v1/shares/{share.id}"}
    if begun is not None:
        begun.complete(
            service.session, Answer(201, resource_id=share.id, headers=location, receipt=receipt)
        )
    return _created(share, receipt, status=201)


def _created(
    share: ShareOut, receipt: Receipt, *, status: int, replayed: Answer | None = None
) -> JSONResponse:
    body = ShareCreated(**share.model_dump(), receipt=receipt.as_dict())
    headers = (
        idempotent.replay_headers(replayed)
        if replayed is not None
        else {"Location": f"/api/v1/shares/{share.id}"}
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


@router.get("", response_model=SharePage, summary="Shares the caller granted or received")
def list_shares(
    service: Listing,
    role: Annotated[Literal["granted", "received"] | None, Query()] = None,
    state: Annotated[Literal["active", "all"], Query()] = "all",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SharePage:
    items, next_cursor = service.page(
        role=role, active_only=state == "active", cursor=cursor, limit=limit
    )
    return SharePage(items=items, next_cursor=next_cursor)


@router.get(
    "/{share_id:uuid}",
    response_model=ShareOut | ShareMetadataOut,
    summary="One share (grantor or grantee; any share for an auditor)",
    description="With `documents:read`: a share the caller granted or received. With "
    "`audit:read` (an auditor): the metadata of any share, the person only by the trail's "
    "pseudonym, recorded as `audit.query` (docs/api.md).",
    responses={
        200: {
            "description": "The share",
            "links": {
                "GetSharedDocument": document_links("$response.body#/document_id")["GetDocument"],
                "GetSharedContent": document_links("$response.body#/document_id")["GetContent"],
            },
        }
    },
)
def get_share(service: Reading, share_id: ShareId) -> ShareOut | ShareMetadataOut:
    if isinstance(service, AuditedMetadata):
        return service.share(share_id)
    return service.get(share_id)


@router.delete(
    "/{share_id:uuid}",
    status_code=204,
    summary="Revoke a share (the granting organisation); it grants nothing from now on",
    responses={
        204: {
            "description": "Revoked",
            "links": {"GetRevokedShare": share_links("$request.path.share_id")["GetShare"]},
        },
        403: problem("The caller is the grantee, not the grantor"),
    },
)
def revoke_share(service: Revoking, share_id: ShareId) -> Response:
    receipt = service.revoke(share_id)
    return Response(
        status_code=204,
        headers={"Audit-Seq": str(receipt.seq), "Audit-Leaf-Hash": receipt.leaf_hash},
    )
