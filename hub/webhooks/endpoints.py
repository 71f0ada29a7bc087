"""``/api/v1/webhooks``: a partner client's webhook subscriptions and their deliveries."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from audit.events import Action
from auth.scopes import Scope
from hub.config.settings import Environment
from hub.runtime import Services
from hub.web.caller import Serving
from hub.web.deps import StrictQuery
from hub.web.pagination import Cursor, Limit
from hub.web.problems import problem, problem_responses
from hub.web.recording import Call
from hub.web.routes import TokenFirstRoute
from hub.webhooks.schemas import (
    DeliveryPage,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionOut,
)
from hub.webhooks.service import WebhooksDeps, WebhookService

router = APIRouter(
    prefix="/api/v1/webhooks",
    tags=["webhooks"],
    responses=problem_responses(not_found=True),
    dependencies=[StrictQuery],
    route_class=TokenFirstRoute,
)


def _webhooks(call: Call, services: Services) -> WebhookService:
    demo = services.settings.environment is Environment.DEMO
    return WebhookService(call, WebhooksDeps(keys=services.keys, demo=demo))


def _serving(action: Action, *, id_param: str | None = None) -> Serving[WebhookService]:
    return Serving(
        _webhooks,
        scope=Scope.DOCUMENTS_READ,
        action=action,
        resource_type="webhook",
        id_param=id_param,
    )


Subscribing = Annotated[WebhookService, Depends(_serving(Action.WEBHOOK_SUBSCRIBE))]
Reading = Annotated[WebhookService, Depends(_serving(Action.WEBHOOK_READ))]
ReadingOne = Annotated[
    WebhookService, Depends(_serving(Action.WEBHOOK_READ, id_param="subscription_id"))
]
Removing = Annotated[
    WebhookService, Depends(_serving(Action.WEBHOOK_UNSUBSCRIBE, id_param="subscription_id"))
]
SubscriptionId = Annotated[uuid.UUID, Path(description="The subscription's id")]


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionCreated,
    summary="Subscribe an endpoint to the organisation's events (Standard Webhooks)",
    description=(
        "The hub POSTs each event the caller's organisation is told of (`share.received`, "
        "`share.revoked`, `share.expiring`, `document.added`) to `url`, signed per Standard "
        "Webhooks with the `secret` in this answer, shown only here. Events carry ids, never a "
        "v-number: read the details with your token (`GET /api/v1/inbox`). Delivery is at "
        "least once: deduplicate on `webhook-id`. See docs/api.md."
    ),
    responses={
        422: problem(
            "The URL is not `https` (outside demo mode), holds credentials or a private "
            "address; an unknown event type; too many subscriptions"
        )
    },
)
def subscribe(
    service: Subscribing, body: SubscriptionIn, response: Response
) -> SubscriptionCreated:
    created = service.subscribe(body)
    response.headers["Location"] = f"/api/v1/webhooks/{created.id}"
    return created


@router.get("", response_model=SubscriptionList, summary="The caller's subscriptions")
def list_subscriptions(service: Reading) -> SubscriptionList:
    return SubscriptionList(items=service.subscriptions())


@router.get(
    "/{subscription_id:uuid}",
    response_model=SubscriptionOut,
    summary="One of the caller's subscriptions (never its secret)",
)
def get_subscription(service: ReadingOne, subscription_id: SubscriptionId) -> SubscriptionOut:
    return service.get(subscription_id)


@router.delete(
    "/{subscription_id:uuid}",
    status_code=204,
    summary="Remove a subscription; its secret is destroyed and nothing more is sent to it",
)
def remove_subscription(service: Removing, subscription_id: SubscriptionId) -> Response:
    service.remove(subscription_id)
    return Response(status_code=204)


@router.get(
    "/{subscription_id:uuid}/deliveries",
    response_model=DeliveryPage,
    summary="Every delivery attempt to a subscription, newest first",
)
def list_deliveries(
    service: ReadingOne,
    subscription_id: SubscriptionId,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DeliveryPage:
    return service.deliveries(subscription_id, cursor=cursor, limit=limit)
