"""The subject report as people read it: every recorded event about one person (an AVG
inzage request: who accessed which of their documents, when, why and under which rule).

The events come from :meth:`hub.auditing.queries.AuditQueries.subject_report`, the API's own
query, so the page reads exactly what ``POST /api/v1/audit/subject-report`` answers and is
recorded the same way: one ``audit.subject_report`` event per page read, about the person's
pseudonym, never the v-number. What the trail holds as codes is made readable here:

- the purpose: the leaf holds the URI of the processing activity; it is shown as the policy's
  code (and, where the page is rendered, its description), a URI the policy no longer names as
  it is;
- the document: its type and title from the document's metadata row, when the document is
  still known (metadata outlives a shredded document's content); the title is part of what the
  recorded report shows, never the content;
- the organisation: its name beside its code.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from audit.events import ActorType
from hub.auditing.queries import AuditQueries
from hub.directory import organisations_repository
from hub.pages import repository
from hub.pages.console.views import EventView, event_view
from hub.rules.model import Policy

PAGE_SIZE: Final = 50
"""Events per page of the report in the browser."""
FILE_BATCH: Final = 500
"""Events per read when the whole report is made into a file (the API's largest page)."""


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One event of the report, as the page, the CSV and the PDF show it: the console's view
    of the event (its tags named in the person's language), and the document it is about."""

    event: EventView
    document_type: str | None
    title: str | None

    @property
    def who(self) -> str:
        """The person (user name) or the client that acted."""
        return self.event.actor

    @property
    def client(self) -> str:
        """The OAuth client the action came through: a person's, or the client itself."""
        if self.event.actor_type == ActorType.CLIENT:
            return self.event.client or self.event.actor
        return self.event.client


@dataclass(frozen=True, slots=True)
class ReportPage:
    lines: tuple[ReportLine, ...]
    next_cursor: str | None


def _document_id(event: EventView) -> uuid.UUID | None:
    if event.resource_type != "document":
        return None
    try:
        return uuid.UUID(event.resource_id)
    except ValueError:
        return None


class SubjectReports:
    """The report's pages and its whole for one request: the audit query (the caller, the
    transaction, the recording) and what makes its codes readable."""

    def __init__(
        self, queries: AuditQueries, *, policy: Policy, purpose_uri: Callable[[str], str]
    ) -> None:
        self.queries = queries
        self._purposes = {purpose_uri(code): code for code in policy.purposes}
        self.purpose_descriptions: Mapping[str, str] = policy.purposes

    @property
    def now(self) -> datetime:
        return self.queries.now

    @property
    def maker(self) -> str:
        """Who makes the report: the person's user name (or the client's id)."""
        principal = self.queries.caller.principal
        return principal.username or principal.client_id

    def organisation_names(self) -> dict[str, str]:
        return {o.code: o.name for o in organisations_repository.list_all(self.queries.session)}

    def page(
        self,
        v_number: str,
        *,
        cursor: str | None,
        gettext: Callable[[str], str],
        limit: int | None = None,
    ) -> ReportPage:
        """One page of the report (recorded), its tags named by ``gettext``; ``cursor`` from
        the previous page."""
        found = self.queries.subject_report(v_number, cursor=cursor, limit=limit or PAGE_SIZE)
        views = [event_view(e, gettext=gettext, purposes=self._purposes) for e in found.items]
        return ReportPage(self._lines(views), found.next_cursor)

    def whole(self, v_number: str, *, gettext: Callable[[str], str]) -> list[ReportLine]:
        """Every event of the report, read page by page (each read recorded, as through the
        API); the last pages include the reads of this report itself."""
        lines: list[ReportLine] = []
        cursor: str | None = None
        while True:
            page = self.page(v_number, cursor=cursor, gettext=gettext, limit=FILE_BATCH)
            lines.extend(page.lines)
            if page.next_cursor is None:
                return lines
            cursor = page.next_cursor

    def _lines(self, views: Sequence[EventView]) -> tuple[ReportLine, ...]:
        ids = {i for view in views if (i := _document_id(view)) is not None}
        documents = {d.id: d for d in repository.documents_by_id(self.queries.session, ids)}
        lines = []
        for view in views:
            document_id = _document_id(view)
            document = documents.get(document_id) if document_id is not None else None
            lines.append(
                ReportLine(
                    view,
                    document_type=document.document_type if document else None,
                    title=document.title if document else None,
                )
            )
        return tuple(lines)
