"""``GET /api/v1/inbox``: the feed of what became visible to the caller's organisation, for
partner systems (the web UI's "what is new", served as JSON; :mod:`hub.inbox.service`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from audit.events import Action
from auth.scopes import Scope
from hub.inbox.schemas import InboxPage
from hub.inbox.service import InboxDeps, InboxService
from hub.runtime import Services
from hub.web.caller import Serving
from hub.web.deps import StrictQuery
from hub.web.pagination import Cursor, Limit
from hub.web.problems import problem, problem_responses
from hub.web.recording import Call
from hub.web.routes import TokenFirstRoute

router = APIRouter(
    prefix="/api/v1/inbox",
    tags=["inbox"],
    responses=problem_responses(),
    dependencies=[StrictQuery],
    route_class=TokenFirstRoute,
)


def _inbox(call: Call, services: Services) -> InboxService:
    return InboxService(call, InboxDeps(policy=services.policy, protector=services.protector))


Reading = Annotated[
    InboxService,
    Depends(
        Serving(_inbox, scope=Scope.DOCUMENTS_READ, action=Action.INBOX_READ, resource_type="inbox")
    ),
]


@router.get(
    "",
    response_model=InboxPage,
    summary="What became visible to the caller's organisation, in order",
    description=(
        "The feed of shares received and of documents added to cases shared with the caller's "
        "organisation, oldest first, as long as they are visible now (a revoked or expired "
        "share's items leave it). Positions follow the audit trail's order, so resuming from "
        "`next_cursor` never misses an item committed later: poll with it, or read on from it "
        "when a webhook arrives. Unlike a list, `next_cursor` is always set (where to resume); "
        "a page shorter than `limit` means the reader has caught up. A case share's "
        "`v_number` is shown while the share is active. Recorded as `inbox.read`."
    ),
    responses={400: problem("A cursor this API did not issue for this organisation")},
)
def read_inbox(service: Reading, limit: Limit = 50, cursor: Cursor = None) -> InboxPage:
    page = service.items(cursor, limit)
    return InboxPage(items=page.items, next_cursor=page.next_cursor)
