"""405 Method Not Allowed lists every method the resource supports (RFC 9110 §15.5.6).

Starlette answered with the methods of the first route that matched the path, so resources with
one route per method were wrong: ``PUT /api/v1/documents`` said ``Allow: POST``, hiding GET.
Here every path of the app, those in the OpenAPI document and the pages outside it, is sent
every method; the methods that are not refused must be exactly what each 405's ``Allow`` lists,
so the header is checked against what the hub really does, HEAD included.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from hub.app import create_app
from hub.config import Environment, Settings
from hub.web.methods import CANDIDATES
from tests.fixtures.oauth import ISSUER, hub_settings, start_hub


def _openapi() -> dict[str, Any]:
    probe = Settings(
        environment=Environment.DEVELOPMENT,
        data_dir=Path("/nonexistent/ketenhub-openapi"),
        database_url="sqlite://",
        issuer=ISSUER,
    )
    return create_app(probe).openapi()


OPENAPI: Final = _openapi()
PAGES: Final = ["/openapi.json", "/docs", "/redoc", "/static/apidocs/swagger-ui-init.js"]


def _sample(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("type") == "integer":
        return "0"
    return "DTV"


def _concrete(template: str, item: dict[str, Any]) -> str:
    path = template
    for operation in item.values():
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                path = path.replace("{" + parameter["name"] + "}", _sample(parameter))
    return path


DECLARED: Final = {
    _concrete(template, item): {method.upper() for method in item}
    for template, item in OPENAPI["paths"].items()
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp_path = tmp_path_factory.mktemp("methods")
    for hub in start_hub(hub_settings(tmp_path, f"sqlite:///{tmp_path / 'ketenhub.db'}")):
        yield hub.client


@pytest.mark.parametrize("path", [*DECLARED, *PAGES])
def test_allow_lists_exactly_the_methods_the_path_serves(client: httpx.Client, path: str) -> None:
    # No token: a method the path serves answers 401 (or 2xx, 4xx of its own), never 405.
    answers = {method: client.request(method, path) for method in (*CANDIDATES, "BREW")}
    served = [m for m in CANDIDATES if answers[m].status_code != 405]
    refused = [m for m, answer in answers.items() if answer.status_code == 405]
    assert "BREW" in refused
    assert set(DECLARED.get(path, {"GET"})) <= set(served), answers
    for method in refused:
        answer = answers[method]
        assert answer.headers["allow"] == ", ".join(served), (method, path)
        if path.startswith("/oauth/"):  # OAuth's own error JSON (RFC 6749 §5.2) there
            assert answer.headers["content-type"] == "application/json"
        else:
            assert answer.headers["content-type"] == "application/problem+json"
            if method != "HEAD":  # a HEAD answer has no body
                assert answer.headers["allow"] in answer.json()["detail"]


# The five resources whose 405 listed one method where they have two (found with h11 and
# schemathesis); named here so a regression names them too.
FIVE: Final = [
    ("/api/v1/documents", {"GET", "POST"}),
    ("/api/v1/documents/{id}", {"GET", "DELETE"}),
    ("/api/v1/documents/{id}/content", {"GET", "HEAD"}),
    ("/api/v1/shares", {"GET", "POST"}),
    ("/api/v1/shares/{id}", {"GET", "DELETE"}),
]


@pytest.mark.parametrize(("template", "methods"), FIVE)
def test_the_resources_with_several_routes_list_all_their_methods(
    client: httpx.Client, template: str, methods: set[str]
) -> None:
    path = template.replace("{id}", str(uuid.uuid4()))
    answer = client.request("PUT", path)
    assert answer.status_code == 405
    assert methods <= {m.strip() for m in answer.headers["allow"].split(",")}


def test_a_get_route_that_serves_no_head_does_not_claim_it(client: httpx.Client) -> None:
    """FastAPI routes a GET operation for GET only; ``Allow`` says what is, not what RFC 9110
    would prefer (``/healthz`` answers HEAD with 405)."""
    answer = client.head("/healthz")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"
    assert client.head("/docs").status_code == 200
