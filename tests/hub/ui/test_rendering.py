"""Pages: the base template, the language, escaping, the stylesheets and the headers."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from fastapi.routing import APIRoute

from hub.ui.endpoints import router as ui_router
from hub.ui.i18n import Language
from hub.ui.rendering import PAGE_CSP, environment
from tests.fixtures.oauth import Hub
from tests.hub.ui.conftest import HTML

PAGE_ROUTERS = [ui_router]
EXACT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)


def test_a_page_is_dutch_by_default(ui_hub: Hub) -> None:
    response = ui_hub.client.get("/_test/page", headers=HTML)
    assert response.status_code == 200
    assert '<html lang="nl">' in response.text
    assert "Direct naar de inhoud" in response.text
    assert 'href="#main"' in response.text
    assert '<main id="main"' in response.text


def test_the_language_cookie_makes_a_page_english(ui_hub: Hub) -> None:
    response = ui_hub.client.get(
        "/_test/page", headers={**HTML, "Cookie": "__Host-ketenhub-lang=en"}
    )
    assert '<html lang="en">' in response.text
    assert "Skip to main content" in response.text
    assert "Direct naar de inhoud" not in response.text


def test_an_unknown_language_in_the_cookie_is_dutch(ui_hub: Hub) -> None:
    response = ui_hub.client.get(
        "/_test/page", headers={**HTML, "Cookie": '__Host-ketenhub-lang=x"><script>'}
    )
    assert '<html lang="nl">' in response.text


def test_values_are_escaped(ui_hub: Hub) -> None:
    response = ui_hub.client.get(
        "/_test/page", params={"shown": "<script>alert(1)</script>"}, headers=HTML
    )
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_a_page_sends_the_security_headers(ui_hub: Hub) -> None:
    response = ui_hub.client.get("/_test/page", headers=HTML)
    assert PAGE_CSP == EXACT_CSP
    assert response.headers["content-security-policy"] == EXACT_CSP
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_every_page_route_sends_the_exact_policy(ui_hub: Hub) -> None:
    """Each GET route of the routers that serve pages (add a feature's router to
    ``PAGE_ROUTERS``), this test's demo page and an unknown path answer HTML with the exact
    policy; a route that needs a session may redirect instead, which is not a page."""
    paths = ["/no/such/page", "/_test/page"]
    for router in PAGE_ROUTERS:
        paths += [
            route.path
            for route in router.routes
            if isinstance(route, APIRoute) and "GET" in route.methods and "{" not in route.path
        ]
    for path in paths:
        response = ui_hub.client.get(path, headers=HTML, follow_redirects=False)
        if response.headers.get("content-type", "").startswith("text/html"):
            assert response.headers["content-security-policy"] == EXACT_CSP, path
            assert response.headers["cache-control"] == "no-store", path
        else:
            assert response.status_code in (302, 303), path


def test_the_stylesheets_a_page_links_are_served(ui_hub: Hub) -> None:
    page = ui_hub.client.get("/_test/page", headers=HTML).text
    hrefs = re.findall(r'<link rel="stylesheet" href="([^"]+)">', page)
    assert len(hrefs) == 3
    assert any("rijkshuisstijl-community-components-css" in h for h in hrefs)
    assert any("rijkshuisstijl-community-design-tokens" in h for h in hrefs)
    for href in hrefs:
        assert href.startswith("/static/")  # the hub's own origin: never a CDN
        response = ui_hub.client.get(href)
        assert response.status_code == 200, href
        assert response.headers["content-type"].startswith("text/css")


def _templates() -> list[tuple[str, str]]:
    root = resources.files("hub.ui").joinpath("templates")
    found = []
    stack = [root]
    while stack:
        for entry in stack.pop().iterdir():
            if entry.is_dir():
                stack.append(entry)
            elif entry.name.endswith(".html"):
                found.append((entry.name, entry.read_text(encoding="utf-8")))
    return found


def test_no_template_holds_inline_script_or_style() -> None:
    templates = _templates()
    assert {"base.html", "macros.html", "error.html"} <= {name for name, _ in templates}
    for name, text in templates:
        assert not re.search(r"<script(?![^>]*\bsrc=)", text, re.IGNORECASE), name
        assert not re.search(r"<style\b|\bstyle=|\bon[a-z]+=", text, re.IGNORECASE), name


@pytest.mark.parametrize("language", list(Language))
def test_the_macros_render_nl_design_system_markup(language: Language) -> None:
    template = environment(language).from_string(
        '{% import "macros.html" as ui %}'
        '<form>{{ ui.csrf_field("tok") }}'
        '{{ ui.text_field("title", "Titel", value="<b>", errors=["Verplicht"]) }}'
        "{{ ui.table('Bijschrift', ['A', 'B'], [['1', '<i>']]) }}"
        '{{ ui.alert("Gelukt", type="ok") }}</form>'
    )
    html = template.render()
    assert html.index('name="csrf_token" value="tok"') < html.index('name="title"')
    assert 'class="utrecht-textbox utrecht-textbox--html-input utrecht-textbox--invalid"' in html
    assert 'aria-describedby="field-title-error"' in html
    assert 'id="field-title-error"' in html
    assert 'value="&lt;b&gt;"' in html
    assert '<th class="utrecht-table__header-cell" scope="col">A</th>' in html
    assert "<caption" in html
    assert "&lt;i&gt;" in html
    assert "utrecht-alert--ok" in html
