"""The home page ``/``, per role.

- A **caseworker** sees what became visible to their organisation since their previous visit
  ("Nieuw sinds uw vorige bezoek": the inbox feed, :mod:`hub.inbox`), the shares granted or
  received that end within 7 days, and links to the pages they work in. A visit is one login
  session: the feed's marker moves on when a new session first opens the page, so a reload
  keeps showing what is new, and what did not fit stays new for the next visit.
- An **auditor** or **administrator** sees the start of their work: the pages of the audit
  console or of the administration (the sections of :data:`hub.ui.rendering.SECTIONS` they may
  open), and for an auditor the size of the latest checkpoint (an audited read,
  ``audit.query`` about the checkpoint, as ``GET /api/v1/audit/checkpoints/latest``).

Both the feed and the expiring shares show personal data (a case's v-number), so the page is an
audited read: ``inbox.read`` and ``share.list``, with the person as the actor.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from audit.events import Action, parse_time
from auth.scopes import Scope
from hub.inbox.service import EXPIRING_WITHIN, InboxDeps, InboxService
from hub.pages.console.dependencies import HomeConsole
from hub.pages.display import page_context
from hub.runtime import Services
from hub.ui.person import CurrentPerson, PageServing
from hub.ui.rendering import render, section_navigation
from hub.web.recording import Call

router = APIRouter(include_in_schema=False)

NEW_SHOWN: Final = 25
"""How many new items the page shows at most; the rest stay new for the next visit."""


def _inbox(call: Call, services: Services) -> InboxService:
    return InboxService(call, InboxDeps(policy=services.policy, protector=services.protector))


# Every person may open the home page; only one who reads documents is shown the feed.
HomeInbox = Annotated[
    InboxService,
    Depends(PageServing(_inbox, scope=None, action=Action.INBOX_READ, resource_type="inbox")),
]


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request, person: CurrentPerson, inbox: HomeInbox, console: HomeConsole
) -> HTMLResponse:
    principal = person.principal
    scopes = principal.scopes
    if Scope.DOCUMENTS_READ not in scopes or principal.user_id is None:
        checkpoint = console.queries.latest_checkpoint() if Scope.AUDIT_READ in scopes else None
        return render(
            request,
            "pages/start.html",
            page_context(
                request,
                checkpoint=checkpoint,
                checkpoint_signed_at=parse_time(checkpoint.signed_at) if checkpoint else None,
                audit_links=section_navigation(principal, "/audit"),
                admin_links=section_navigation(principal, "/admin"),
            ),
        )
    new = inbox.since_last_visit(
        user_id=principal.user_id, visit=person.web.id_hash, limit=NEW_SHOWN
    )
    return render(
        request,
        "pages/home.html",
        page_context(
            request,
            new=new,
            expiring=inbox.expiring(),
            expiring_days=EXPIRING_WITHIN.days,
            may_write=Scope.DOCUMENTS_WRITE in scopes,
            may_share=Scope.SHARES_WRITE in scopes,
            purposes=inbox.deps.policy.purposes,
        ),
    )
