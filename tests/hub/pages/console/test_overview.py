"""The console's overview over HTTP with a logged-in auditor, on both backend pairs: the three
charts with their tables count what happened (a download, a denial) in the period asked, the
period form refuses what is not one (422, the form again), an empty period says so, and other
roles get the 403 page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import httpx
import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from auth.people import Role
from hub.pages.choices import ZONE
from hub.ui.i18n import LANGUAGE_COOKIE
from hub.ui.sessions import COOKIE
from tests.fixtures.documents import pdf
from tests.hub.pages.conftest import PagesHub
from tests.hub.pages.pagetools import parsed


class _Tables(HTMLParser):
    """The cells of each table of a page, by the table's id: header row first."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in {"td", "th"} and self._table is not None:
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._table is not None and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None


def _column(table: list[list[str]], heading: str, row_start: str) -> int:
    """The figure in the row whose first cell starts with ``row_start``, column ``heading``;
    0 when the table has no such row or column (nothing counted yet)."""
    if not table or heading not in table[0]:
        return 0
    index = table[0].index(heading)
    rows = [r for r in table[1:] if r[0].startswith(row_start)]
    return int(rows[0][index]) if rows else 0


def _today() -> str:
    return datetime.now(UTC).astimezone(ZONE).date().isoformat()


def _figures(hub: PagesHub) -> dict[str, list[list[str]]]:
    auditor = hub.browser("DTV", Role.AUDITOR)
    page = auditor.get("/audit")
    assert page.status_code == 200, page.text
    return _Tables(page.text).tables


def _overview(hub: PagesHub, **query: str) -> httpx.Response:
    return hub.browser("DTV", Role.AUDITOR).get("/audit", params=query)


def test_the_charts_count_a_download_and_a_denial_of_today(module_pages_hub: PagesHub) -> None:
    hub = module_pages_hub
    day = datetime.now(UTC).astimezone(ZONE).date()
    today = f"{day.day} "
    before = _figures(hub)
    document = hub.api.uploaded("IOM", pdf(seed=41), v_number="6660001111")
    for _ in range(2):
        assert hub.api.content("DTV", document["id"]).status_code == 200
    # A gemeente may not upload a travel document: a denial.
    assert hub.api.upload("GM0363", pdf(seed=42)).status_code == 403
    after = _figures(hub)

    dtv = "Dienst Terugkeer en Vertrek (DTV)"
    accesses = after["accesses-table"]
    assert dtv in accesses[0], accesses[0]
    assert (
        _column(accesses, dtv, today) == _column(before.get("accesses-table", []), dtv, today) + 2
    )
    assert _column(after["denials-table"], "Weigeringen", today) >= 1
    assert (
        _column(after["denials-table"], "Weigeringen", today)
        == _column(before.get("denials-table", []), "Weigeringen", today) + 1
    )
    downloads = after["downloads-table"]
    assert _column(downloads, "Downloads", "terugkeer") == (
        _column(before.get("downloads-table", []), "Downloads", "terugkeer") + 2
    )
    # Every day of the default period, today last; 14 of them.
    assert len(after["denials-table"]) == 1 + 14
    assert after["denials-table"][-1][0].startswith(today)


def test_each_chart_is_an_image_described_by_its_table(module_pages_hub: PagesHub) -> None:
    hub = module_pages_hub
    hub.api.uploaded("IOM", pdf(seed=43), v_number="6660002222")
    assert hub.api.upload("GM0363", pdf(seed=44)).status_code == 403
    page = _overview(hub)
    assert page.status_code == 200
    elements = parsed(page).elements
    charts = [a for t, a in elements if t == "svg"]
    tables = {a.get("id") for t, a in elements if t == "table"}
    assert {c["aria-describedby"] for c in charts} <= tables
    assert all(c["role"] == "img" for c in charts)
    assert "denials-table" in tables
    assert "style=" not in page.text
    assert "<script" not in page.text
    assert "Content-Security-Policy" in page.headers


def test_a_period_without_events_says_so(module_pages_hub: PagesHub) -> None:
    page = _overview(module_pages_hub, since="2020-01-01", until="2020-01-31")
    assert page.status_code == 200
    assert "<svg" not in page.text
    assert page.text.count("Geen gebeurtenissen in deze periode.") == 3
    assert "<table" not in page.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2026-01-01", "until": "2026-06-30"}, "Een periode is ten hoogste 92 dagen."),
        ({"since": "2026-02-10", "until": "2026-02-01"}, "niet voor de eerste"),
        ({"since": "gisteren"}, "Geef een datum"),
        ({"until": "2026-02-30"}, "Geef een datum"),
    ],
)
def test_a_wrong_period_is_the_form_again(
    module_pages_hub: PagesHub, query: dict[str, str], message: str
) -> None:
    with Session(module_pages_hub.api.hub.services.engine) as session:
        statement = select(AuditEvent).where(col(AuditEvent.resource_type) == "audit_stats")
        before = len(session.exec(statement).all())
    page = _overview(module_pages_hub, **query)
    assert page.status_code == 422, page.text
    assert message in page.text
    assert "hub-period" in page.text
    assert 'aria-invalid="true"' in page.text
    assert "<svg" not in page.text
    for value in query.values():
        assert f'value="{value}"' in page.text  # what was typed, to correct
    with Session(module_pages_hub.api.hub.services.engine) as session:
        assert len(session.exec(statement).all()) == before


def test_92_days_are_shown_and_each_read_is_recorded(module_pages_hub: PagesHub) -> None:
    day = datetime.now(UTC).astimezone(ZONE).date()
    first = (day - timedelta(days=91)).isoformat()
    page = _overview(module_pages_hub, since=first, until=day.isoformat())
    assert page.status_code == 200, page.text
    assert len(_Tables(page.text).tables["denials-table"]) == 1 + 92
    with Session(module_pages_hub.api.hub.services.engine) as session:
        statement = select(AuditEvent).where(col(AuditEvent.resource_type) == "audit_stats")
        last = session.exec(statement.order_by(col(AuditEvent.seq).desc())).first()
    assert last is not None
    assert (last.action, last.outcome, last.actor_id) == ("audit.query", "success", "dtv.auditor")


def test_the_form_keeps_the_period(module_pages_hub: PagesHub) -> None:
    page = _overview(module_pages_hub)
    assert page.status_code == 200
    form = parsed(page)
    assert form.fields["hub-period"] == ["since", "until"]
    assert re.search(rf'id="field-until"[^>]*value="{_today()}"', page.text)


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.ADMIN])
def test_other_roles_get_the_403_page(module_pages_hub: PagesHub, role: Role) -> None:
    person = module_pages_hub.browser("GM0363", role)
    page = person.get("/audit")
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    with Session(module_pages_hub.api.hub.services.engine) as session:
        statement = select(AuditEvent).where(
            col(AuditEvent.actor_id) == person.person.username,
            col(AuditEvent.action) == "audit.query",
        )
        assert [e.outcome for e in session.exec(statement).all()][-1:] == ["denied"]


def test_english_names_the_charts_and_their_days(module_pages_hub: PagesHub) -> None:
    auditor = module_pages_hub.browser("DTV", Role.AUDITOR)
    cookies = f"{COOKIE}={auditor.cookie}; {LANGUAGE_COOKIE}=en"
    page = auditor.get(
        "/audit", params={"since": "2020-03-01", "until": "2020-03-02"}, headers={"Cookie": cookies}
    )
    assert page.status_code == 200
    assert "Accesses to documents per day, per organisation" in page.text
    assert "No events in this period." in page.text
    assert "1 March 2020 to 2 March 2020" in page.text
