"""The OpenAPI links (:mod:`hub.web.links`): every link names an operation of the document and
a parameter that operation has, so a client or fuzzer that follows them never goes nowhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import pytest

from hub.app import create_app
from hub.config import Environment, Settings
from hub.web import links

DOCUMENT: Final = create_app(
    Settings(
        environment=Environment.DEVELOPMENT,
        data_dir=Path("/nonexistent/ketenhub-openapi"),
        database_url="sqlite://",
        issuer="https://hub.example",
    )
).openapi()
OPERATIONS: Final = {
    item["operationId"]: item for path in DOCUMENT["paths"].values() for item in path.values()
}


def _links() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (source["operationId"], status, name, link)
        for source in OPERATIONS.values()
        for status, answer in source["responses"].items()
        for name, link in answer.get("links", {}).items()
    ]


@pytest.mark.parametrize(("source", "status", "name", "link"), _links())
def test_a_link_names_an_operation_and_its_parameters(
    source: str, status: str, name: str, link: dict[str, Any]
) -> None:
    target = OPERATIONS.get(link["operationId"])
    assert target is not None, f"{source} {status} {name} links to nothing"
    declared = {p["name"] for p in target.get("parameters", [])}
    assert set(link.get("parameters", {})) <= declared
    if "requestBody" in link:
        assert "requestBody" in target


def test_the_workflow_upload_share_read_revoke_read_is_linked() -> None:
    targets = {(source, link["operationId"]) for source, _, _, link in _links()}
    upload = "upload_api_v1_documents_post"
    assert {
        (upload, links.GET_DOCUMENT),
        (upload, links.CREATE_SHARE),
        (links.CREATE_SHARE, links.GET_SHARE),
        (links.CREATE_SHARE, links.REVOKE_SHARE),
        (links.REVOKE_SHARE, links.GET_SHARE),
        (links.GET_SHARE, links.GET_DOCUMENT),
    } <= targets
