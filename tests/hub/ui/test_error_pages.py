"""Errors as pages for browsers outside /api and /oauth; problem+json everywhere else."""

from __future__ import annotations

import pytest

from hub.ui.errors import accepts_html
from tests.fixtures.oauth import Hub
from tests.hub.ui.conftest import HTML
from tests.hub.ui.test_rendering import EXACT_CSP


def test_an_unknown_path_is_a_404_page_for_a_browser(ui_hub: Hub) -> None:
    response = ui_hub.client.get("/no/such/page", headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Pagina niet gevonden" in response.text
    assert response.headers["content-security-policy"] == EXACT_CSP
    assert response.headers["cache-control"] == "no-store"


def test_an_unknown_path_is_problem_json_for_a_program(ui_hub: Hub) -> None:
    response = ui_hub.client.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert ui_hub.client.get("/no/such/page").headers["content-type"] == (
        "application/problem+json"
    )


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/v1/documents/not-a-uuid"])
def test_the_api_answers_problem_json_even_to_a_browser(ui_hub: Hub, path: str) -> None:
    response = ui_hub.client.get(path, headers=HTML)
    assert response.status_code in (401, 404)
    assert response.headers["content-type"] == "application/problem+json"


def test_the_oauth_endpoints_answer_their_json_even_to_a_browser(ui_hub: Hub) -> None:
    response = ui_hub.client.post("/oauth/token", data={"grant_type": "x"}, headers=HTML)
    assert response.status_code in (400, 401)
    assert response.headers["content-type"].startswith("application/json")
    assert "error" in response.json()


def test_a_crash_is_a_500_page_with_only_a_reference(ui_hub: Hub) -> None:
    response = ui_hub.client.get("/_test/crash", headers=HTML)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Er ging iets mis" in response.text
    assert "Referentie: " in response.text
    assert "secret detail" not in response.text
    assert response.headers["content-security-policy"] == EXACT_CSP


def test_a_crash_under_api_stays_problem_json(ui_hub: Hub) -> None:
    response = ui_hub.client.get("/api/v1/_test/crash", headers=HTML)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"


def test_a_429_page_keeps_retry_after(ui_hub: Hub) -> None:
    response = ui_hub.client.get(
        "/_test/busy", headers={**HTML, "Cookie": "__Host-ketenhub-lang=en"}
    )
    assert response.status_code == 429
    assert "Too many attempts" in response.text
    assert response.headers["retry-after"] == "7"


def test_an_invalid_form_is_a_422_page(ui_hub: Hub) -> None:
    response = ui_hub.client.post("/language", data={}, headers=HTML)
    assert response.status_code == 422
    assert "Het formulier kon niet worden verwerkt" in response.text


def test_a_wrong_method_is_a_405_page_with_allow(ui_hub: Hub) -> None:
    response = ui_hub.client.get("/language", headers=HTML)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith("text/html")


def test_a_body_too_large_is_a_413_page(ui_hub: Hub) -> None:
    response = ui_hub.client.post(
        "/language",
        content=b"lang=" + b"e" * (2 * 1024 * 1024),
        headers={**HTML, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "Te groot" in response.text


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html", True),
        ("text/html;q=0.9, */*;q=0.8", True),
        ("TEXT/HTML", True),
        ("text/html;q=0", False),
        ("*/*", False),
        ("application/json", False),
        ("", False),
        ("text/htmlx", False),
    ],
)
def test_accepts_html(accept: str, html: bool) -> None:
    assert accepts_html(accept) is html
