"""A hub on SQLite with a few routes of the tests' own (never shipped): a page rendered with
the real templates, and routes that fail in each way an error page must cover."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hub.core.errors import HubError
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


@pytest.fixture
def ui_hub(tmp_path: Path, fresh_sqlite_url: str) -> Iterator[Hub]:
    for hub in start_hub(hub_settings(tmp_path, fresh_sqlite_url)):
        hub.client.app.include_router(demo)  # type: ignore[attr-defined]
        yield hub
