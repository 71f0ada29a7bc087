"""A hub on SQLite with a few routes of the tests' own (never shipped): a page rendered with
the real templates, and routes that fail in each way an error page must cover."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hub.core.errors import HubError
from hub.ui.person import CurrentPerson
from hub.ui.rendering import render
from tests.fixtures.oauth import Hub, hub_settings, start_hub

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class TooMany(HubError):
    default_status = 429
    slug = "too-many"


demo = APIRouter()


@demo.get("/_test/page")
def demo_page(request: Request, shown: str = "") -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"title": "Demo", "explanation": shown, "reference": None},
    )


@demo.get("/_test/crash")
def crash() -> None:
    raise RuntimeError("secret detail that must not be shown")


@demo.get("/api/v1/_test/crash")
def api_crash() -> None:
    raise RuntimeError("secret detail that must not be shown")


@demo.get("/_test/busy")
def busy() -> None:
    raise TooMany("slow down", headers={"Retry-After": "7"})


@demo.get("/_test/person")
def person_page(request: Request, person: CurrentPerson) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"title": "Person", "explanation": person.principal.organisation, "reference": None},
    )


@demo.post("/_test/person")
def person_form(request: Request, person: CurrentPerson) -> HTMLResponse:
    return person_page(request, person)


@pytest.fixture
def ui_hub(tmp_path: Path, fresh_sqlite_url: str) -> Iterator[Hub]:
    for hub in start_hub(hub_settings(tmp_path, fresh_sqlite_url, client_secret_auth=True)):
        hub.client.app.include_router(demo)  # type: ignore[attr-defined]
        yield hub
