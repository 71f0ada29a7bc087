"""Contract details of the API that a client relies on: strict query strings, RFC 3339 times,
routes that cannot shadow each other, and problem documents described in the OpenAPI."""

from __future__ import annotations

import pytest

from hub.documents.sniff import SNIFFED_TYPES
from tests.fixtures.documents import API, DocumentHub


def test_a_misspelled_filter_is_refused_not_ignored(documents_hub: DocumentHub) -> None:
    response = documents_hub.client.get(
        f"{API}/documents", params={"documnet_type": "decision"}, headers=documents_hub.auth("DTV")
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "documnet_type" in response.json()["detail"]
    assert "document_type" in response.json()["detail"]  # what the route does take


def test_a_query_parameter_named_like_a_v_number_is_not_echoed(
    documents_hub: DocumentHub,
) -> None:
    response = documents_hub.client.get(
        f"{API}/documents?1234567890=x", headers=documents_hub.auth("DTV")
    )
    assert response.status_code == 422
    assert "1234567890" not in response.text


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2027-01-15", "2027-01-15T12:00:00"])
def test_times_in_queries_are_rfc_3339_with_an_offset(
    documents_hub: DocumentHub, value: str
) -> None:
    response = documents_hub.client.get(
        f"{API}/documents", params={"created_until": value}, headers=documents_hub.auth("DTV")
    )
    assert response.status_code == 422, value
    assert "RFC 3339" in response.json()["detail"]


def test_an_rfc_3339_time_is_accepted(documents_hub: DocumentHub) -> None:
    response = documents_hub.client.get(
        f"{API}/documents",
        params={"created_until": "2100-01-01T00:00:00+01:00"},
        headers=documents_hub.auth("DTV"),
    )
    assert response.status_code == 200


def test_get_on_the_search_route_is_405_not_a_document_lookup(
    documents_hub: DocumentHub,
) -> None:
    response = documents_hub.client.get(
        f"{API}/documents/search", headers=documents_hub.auth("DTV")
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_the_openapi_document_describes_errors_as_problem_documents(
    documents_hub: DocumentHub,
) -> None:
    document = documents_hub.client.get("/openapi.json").json()
    download = document["paths"][f"{API}/documents/{{document_id}}/content"]["get"]
    for status in ("401", "403", "404", "416", "422"):
        assert "application/problem+json" in download["responses"][status]["content"], status
    assert "application/json" not in download["responses"]["422"]["content"]
    jwks = document["paths"]["/oauth/jwks"]["get"]["responses"]["200"]["content"]
    assert list(jwks) == ["application/jwk-set+json"]
    token = document["paths"]["/oauth/token"]["post"]["responses"]
    assert {"400", "401"} <= set(token)


def test_the_content_is_described_as_the_types_it_is_served_as(
    documents_hub: DocumentHub,
) -> None:
    # Found by the stateful fuzzing (tests/security/test_stateful_fuzz.py): a download is served
    # as the type sniffed at upload, and the document said application/octet-stream.
    document = documents_hub.client.get("/openapi.json").json()
    download = document["paths"][f"{API}/documents/{{document_id}}/content"]["get"]
    for status in ("200", "206"):
        assert set(download["responses"][status]["content"]) == set(SNIFFED_TYPES), status
