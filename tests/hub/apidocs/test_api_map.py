"""docs/api.md is the API's map: every operation the OpenAPI document describes under
``/api/v1`` is on it, with its method, and is described in the OpenAPI document itself.

A route added without a line in docs/api.md, or without a description that Swagger UI and
ReDoc can show, fails here, so the map and the document stay complete as features land.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest

from hub.app import create_app
from hub.config import Environment, Settings

ROOT: Final = Path(__file__).resolve().parents[3]
MAP: Final = (ROOT / "docs" / "api.md").read_text("utf-8")
DOCUMENT: Final = create_app(
    Settings(
        environment=Environment.DEVELOPMENT,
        data_dir=Path("/nonexistent/ketenhub-openapi"),
        database_url="sqlite://",
        issuer="https://hub.example",
    )
).openapi()
METHODS: Final = ("get", "put", "post", "delete", "patch", "head", "options")
PARAMETER: Final = re.compile(r"\{[^}]*\}")


def _operations() -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, item in DOCUMENT["paths"].items()
        if path.startswith("/api/v1/")
        for method in METHODS
        if method in item
    ]


def _lines_naming(path: str) -> list[str]:
    """docs/api.md's lines that name ``path`` (without ``/api/v1``; parameters by any name)."""
    wanted = PARAMETER.sub("{}", path.removeprefix("/api/v1"))
    found = []
    for line in MAP.splitlines():
        named = PARAMETER.sub("{}", line)
        if re.search(re.escape(wanted) + r"(?![\w/{])", named):
            found.append(line)
    return found


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_is_on_the_map(method: str, path: str) -> None:
    lines = _lines_naming(path)
    assert lines, f"docs/api.md does not name {path.removeprefix('/api/v1')}"
    assert any(method.upper() in line for line in lines), (
        f"docs/api.md names {path} but not with {method.upper()}"
    )


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_is_described_in_the_openapi_document(method: str, path: str) -> None:
    operation = DOCUMENT["paths"][path][method]
    assert operation.get("summary") or operation.get("description"), f"{method.upper()} {path}"


@pytest.mark.parametrize("path", ["/api/v1/documents", "/api/v1/shares", "/api/v1/uploads"])
def test_the_creations_a_partner_retries_take_an_idempotency_key(path: str) -> None:
    # docs/api.md and docs/partners.md promise it on these three; a generated client learns it
    # only from the document.
    names = [parameter["name"] for parameter in DOCUMENT["paths"][path]["post"]["parameters"]]
    assert "Idempotency-Key" in names, names
