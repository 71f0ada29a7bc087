"""Bad input on the documents and shares API: every refusal is a clean 4xx that leaves nothing.

For each malformed, incomplete or out-of-bounds request a partner system might send, the hub
must answer the right 4xx as ``application/problem+json`` with a ``detail`` that says what was
wrong, never a 500, and must leave nothing behind: no ``document``, ``sealed_object`` or
``share`` row, no object in the store and no half-written one (a temp file, an open multipart
upload). The v-number sent never comes back in an error. Each case runs on SQLite with the
filesystem store and on PostgreSQL with SeaweedFS.

The client that hangs up half-way through an upload is played with a raw socket against a real
uvicorn server, since the in-process test client cannot drop a connection.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from hub.app import create_app
from hub.rules import demo_policy_bytes
from hub.runtime import Services
from storage.objects import FilesystemStore, S3Store
from tests.fixtures.documents import (
    API,
    DOCUMENT_BACKENDS,
    DocumentHub,
    pdf,
    png,
    running_documents_hub,
)
from tests.fixtures.stores import (
    FilesystemBackend,
    S3Backend,
    S3Server,
)

MIB: Final = 1024 * 1024
V_NUMBER: Final = "4817305926"
BOUNDARY: Final = "ketenhub-bad-input-7f3c"
MULTIPART: Final = f"multipart/form-data; boundary={BOUNDARY}"
# base64url of {"after":["2030-01-01","x"],"query":"not-ours"}: shaped like ours, never issued.
NOT_ISSUED: Final = "eyJhZnRlciI6WyIyMDMwLTAxLTAxIiwieCJdLCJxdWVyeSI6Im5vdC1vdXJzIn0"
PROBLEM_JSON: Final = "application/problem+json"


# -- what is stored ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """Everything an upload or a share could leave behind."""

    documents: int
    sealed_objects: int
    shares: int
    objects: int
    leftovers: tuple[str, ...]


def stored(hub: DocumentHub) -> Stored:
    services = hub.hub.services
    with services.engine.connect() as connection:
        counts = [
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("document", "sealed_object", "share")
        ]
    store = services.store
    if isinstance(store, S3Store):
        leftovers = S3Backend(S3Server.from_environment("seaweed")).leftovers(store)
    else:
        assert isinstance(store, FilesystemStore)
        leftovers = FilesystemBackend(store.root).leftovers(store)
    documents, sealed_objects, shares = counts
    return Stored(
        documents=documents,
        sealed_objects=sealed_objects,
        shares=shares,
        objects=sum(1 for _ in store.iter_objects()),
        leftovers=tuple(leftovers),
    )


def refused(
    hub: DocumentHub,
    before: Stored,
    response: httpx.Response,
    status: int,
    says: str,
    *,
    v_number: str = V_NUMBER,
) -> None:
    """The answer is a ``status`` problem whose detail contains ``says``; nothing was kept."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == status
    assert says.lower() in problem["detail"].lower(), problem["detail"]
    assert v_number.strip() not in response.text
    assert stored(hub) == before


# -- multipart bodies, byte for byte -----------------------------------------------------------


def field(name: str, value: str) -> bytes:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode()


def file(content: bytes, *, name: str = "file", filename: str = "scan.pdf") -> bytes:
    head = (
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    return head.encode() + content


def form(*parts: bytes) -> bytes:
    opened = b"".join(f"--{BOUNDARY}\r\n".encode() + part + b"\r\n" for part in parts)
    return opened + f"--{BOUNDARY}--\r\n".encode()


def metadata(document_type: str = "travel_document", v_number: str = V_NUMBER) -> list[bytes]:
    return [field("document_type", document_type), field("v_number", v_number)]


def post(hub: DocumentHub, body: bytes, content_type: str | None = MULTIPART) -> httpx.Response:
    headers = hub.auth("DTV")
    if content_type is not None:
        headers["Content-Type"] = content_type
    return hub.client.post(f"{API}/documents", content=body, headers=headers)


@pytest.fixture
def before(documents_hub: DocumentHub) -> Stored:
    documents_hub.token("DTV")  # registered and issued before the baseline, not during the test
    return stored(documents_hub)


# -- the multipart form ------------------------------------------------------------------------


def test_malformed_part_header_is_400(documents_hub: DocumentHub, before: Stored) -> None:
    body = f"--{BOUNDARY}\r\nthis line is no header\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode()
    refused(documents_hub, before, post(documents_hub, body), 400, "malformed")


def test_body_without_closing_boundary_is_400(documents_hub: DocumentHub, before: Stored) -> None:
    body = form(*metadata(), file(pdf()))
    truncated = body[: -len(f"--{BOUNDARY}--\r\n")]
    refused(documents_hub, before, post(documents_hub, truncated), 400, "ended before")


def test_multipart_without_boundary_is_400(documents_hub: DocumentHub, before: Stored) -> None:
    response = post(documents_hub, form(*metadata(), file(pdf())), "multipart/form-data")
    refused(documents_hub, before, response, 400, "boundary")


def test_json_body_is_415(documents_hub: DocumentHub, before: Stored) -> None:
    body = b'{"document_type": "travel_document", "v_number": "%s"}' % V_NUMBER.encode()
    response = post(documents_hub, body, "application/json")
    refused(documents_hub, before, response, 415, "multipart/form-data")


def test_body_without_content_type_is_415(documents_hub: DocumentHub, before: Stored) -> None:
    response = post(documents_hub, form(*metadata(), file(pdf())), None)
    refused(documents_hub, before, response, 415, "multipart/form-data")


def test_form_without_file_is_422(documents_hub: DocumentHub, before: Stored) -> None:
    refused(documents_hub, before, post(documents_hub, form(*metadata())), 422, "no file")


@pytest.mark.parametrize("missing", ["v_number", "document_type"])
def test_form_without_a_required_field_is_422(
    documents_hub: DocumentHub, before: Stored, missing: str
) -> None:
    kept = [part for part in metadata() if f'name="{missing}"'.encode() not in part]
    response = post(documents_hub, form(*kept, file(pdf())))
    refused(documents_hub, before, response, 422, f"missing: {missing}")


def test_two_files_are_422(documents_hub: DocumentHub, before: Stored) -> None:
    body = form(*metadata(), file(pdf(256 * 1024)), file(pdf(seed=1), filename="two.pdf"))
    refused(documents_hub, before, post(documents_hub, body), 422, "exactly one file")


def test_field_after_the_file_is_422(documents_hub: DocumentHub, before: Stored) -> None:
    body = form(*metadata(), file(pdf(256 * 1024)), field("title", "late"))
    refused(documents_hub, before, post(documents_hub, body), 422, "nothing may follow")


def test_file_before_the_metadata_is_422(documents_hub: DocumentHub, before: Stored) -> None:
    body = form(file(pdf()), *metadata())
    refused(documents_hub, before, post(documents_hub, body), 422, "must come before the file")


def test_empty_file_is_422(documents_hub: DocumentHub, before: Stored) -> None:
    refused(documents_hub, before, post(documents_hub, form(*metadata(), file(b""))), 422, "empty")


# -- content and metadata ----------------------------------------------------------------------


def test_text_named_pdf_is_415(documents_hub: DocumentHub, before: Stored) -> None:
    text_file = (
        b'Content-Disposition: form-data; name="file"; filename="brief.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\nDit is geen PDF maar platte tekst.\n"
    )
    response = post(documents_hub, form(*metadata(), text_file))
    refused(documents_hub, before, response, 415, "unrecognised")


def test_png_as_decision_is_415(documents_hub: DocumentHub, before: Stored) -> None:
    body = form(*metadata("decision"), file(png(), filename="besluit.png"))
    refused(documents_hub, before, post(documents_hub, body), 415, "image/png")


BAD_V_NUMBERS: Final = {
    "9 digits": "481730592",
    "a letter": "48173059A6",
    "11 digits": "48173059261",
    "arabic-indic digits": "١٢٣٤٥٦٧٨٩٠",
    "trailing newline": V_NUMBER + "\n",
}


@pytest.mark.parametrize(
    "v_number",
    [pytest.param(value, id=name) for name, value in BAD_V_NUMBERS.items()],
)
def test_upload_with_a_bad_v_number_is_422(
    documents_hub: DocumentHub, before: Stored, v_number: str
) -> None:
    response = post(documents_hub, form(*metadata(v_number=v_number), file(pdf())))
    refused(documents_hub, before, response, 422, "10 digits", v_number=v_number)


@pytest.mark.parametrize("v_number", BAD_V_NUMBERS.values(), ids=BAD_V_NUMBERS.keys())
def test_search_with_a_bad_v_number_is_422(
    documents_hub: DocumentHub, before: Stored, v_number: str
) -> None:
    response = documents_hub.client.post(
        f"{API}/documents/search", json={"v_number": v_number}, headers=documents_hub.auth("DTV")
    )
    refused(documents_hub, before, response, 422, "v_number", v_number=v_number)


@pytest.mark.parametrize("v_number", BAD_V_NUMBERS.values(), ids=BAD_V_NUMBERS.keys())
def test_case_share_with_a_bad_v_number_is_422(
    documents_hub: DocumentHub, before: Stored, v_number: str
) -> None:
    response = documents_hub.share(
        "DTV", grantee="GM0363", v_number=v_number, document_types=["travel_document"]
    )
    refused(documents_hub, before, response, 422, "v_number", v_number=v_number)


def test_upload_of_an_unknown_type_is_422(documents_hub: DocumentHub, before: Stored) -> None:
    body = form(*metadata("passport"), file(pdf()))
    refused(documents_hub, before, post(documents_hub, body), 422, "unknown document type")


def test_title_over_200_characters_is_422(documents_hub: DocumentHub, before: Stored) -> None:
    body = form(*metadata(), field("title", "t" * 201), file(pdf()))
    refused(documents_hub, before, post(documents_hub, body), 422, "at most 200 characters")


# -- the size limit (a policy with small limits) -----------------------------------------------


def small_limits_policy() -> bytes:
    """The demo policy with travel documents up to 1 MiB and case information up to 17 MiB:
    over two of the S3 store's 8 MiB parts, so a refusal there must abort an upload in flight."""
    policy = demo_policy_bytes().decode()
    for large, small in (("256 MiB", "1 MiB"), ("2 GiB", "17 MiB"), ('"demo-1"', '"small-1"')):
        assert policy.count(large) == 1
        policy = policy.replace(large, small)
    return policy.encode()


@pytest.fixture(params=DOCUMENT_BACKENDS)
def limited_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentHub]:
    """Like ``documents_hub``, but running :func:`small_limits_policy`."""
    policy_file = tmp_path / "small-limits.yaml"
    policy_file.write_bytes(small_limits_policy())
    yield from running_documents_hub(request, tmp_path, policy_file=policy_file)


@pytest.mark.parametrize(
    ("document_type", "limit", "shown"),
    [("travel_document", MIB, "1 MiB"), ("case_info", 17 * MIB, "17 MiB")],
)
def test_upload_over_the_size_limit_is_413(
    limited_hub: DocumentHub, document_type: str, limit: int, shown: str
) -> None:
    empty = stored(limited_hub)
    at_limit = limited_hub.upload("DTV", pdf(limit), document_type=document_type)
    assert at_limit.status_code == 201, at_limit.text
    before = stored(limited_hub)
    # What an upload keeps is counted, so the comparison below can see a kept refusal.
    assert (before.documents, before.sealed_objects, before.objects) == (
        empty.documents + 1,
        empty.sealed_objects + 1,
        empty.objects + 1,
    )
    body = form(*metadata(document_type), file(pdf(limit + 1, seed=1)))
    refused(limited_hub, before, post(limited_hub, body), 413, f"limit of {shown}")


# -- shares ------------------------------------------------------------------------------------


@pytest.fixture
def document_id(documents_hub: DocumentHub) -> str:
    """A travel document of V_NUMBER that DTV uploaded, and so may share."""
    document: dict[str, Any] = documents_hub.uploaded("DTV", pdf(), v_number=V_NUMBER)
    return str(document["id"])


def share_body(**fields: Any) -> dict[str, Any]:
    expires = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    return {"grantee": "GM0363", "purpose": "terugkeer", "expires_at": expires, **fields}


def post_share(hub: DocumentHub, body: dict[str, Any]) -> httpx.Response:
    return hub.client.post(f"{API}/shares", json=body, headers=hub.auth("DTV"))


def test_share_beyond_the_maximum_duration_is_422(
    documents_hub: DocumentHub, document_id: str
) -> None:
    before = stored(documents_hub)
    response = documents_hub.share("DTV", grantee="GM0363", document_id=document_id, days=91)
    refused(documents_hub, before, response, 422, "at most 90 days")


def test_case_share_beyond_the_strictest_maximum_is_422(
    documents_hub: DocumentHub, before: Stored
) -> None:
    response = documents_hub.share(
        "DTV",
        grantee="GM0363",
        v_number=V_NUMBER,
        document_types=["travel_document", "decision"],
        days=31,
    )
    refused(documents_hub, before, response, 422, "at most 30 days")


def test_share_to_an_unknown_organisation_is_422(
    documents_hub: DocumentHub, document_id: str
) -> None:
    before = stored(documents_hub)
    response = documents_hub.share("DTV", grantee="ACME", document_id=document_id)
    refused(documents_hub, before, response, 422, "unknown organisation")


def test_share_expiring_in_the_past_is_422(documents_hub: DocumentHub, document_id: str) -> None:
    before = stored(documents_hub)
    response = documents_hub.share("DTV", grantee="GM0363", document_id=document_id, days=-1)
    refused(documents_hub, before, response, 422, "in the future")


def test_share_of_an_unknown_type_is_422(documents_hub: DocumentHub, before: Stored) -> None:
    response = documents_hub.share(
        "DTV", grantee="GM0363", v_number=V_NUMBER, document_types=["passport"]
    )
    refused(documents_hub, before, response, 422, "unknown document type")


def test_share_with_document_id_and_v_number_is_422(
    documents_hub: DocumentHub, document_id: str
) -> None:
    before = stored(documents_hub)
    body = share_body(
        document_id=document_id, v_number=V_NUMBER, document_types=["travel_document"]
    )
    refused(documents_hub, before, post_share(documents_hub, body), 422, "give either")


def test_share_with_neither_document_id_nor_v_number_is_422(
    documents_hub: DocumentHub, before: Stored
) -> None:
    refused(documents_hub, before, post_share(documents_hub, share_body()), 422, "give either")


def test_share_with_a_naive_expiry_is_422(documents_hub: DocumentHub, document_id: str) -> None:
    before = stored(documents_hub)
    body = share_body(document_id=document_id, expires_at="2099-01-01T00:00:00")
    refused(documents_hub, before, post_share(documents_hub, body), 422, "with an offset")


# -- JSON, paths and cursors -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/shares", "/documents/search"])
def test_malformed_json_is_422(documents_hub: DocumentHub, before: Stored, path: str) -> None:
    response = documents_hub.client.post(
        f"{API}{path}",
        content=b'{"grantee": "GM0363", "v_number": "%s",' % V_NUMBER.encode(),
        headers={**documents_hub.auth("DTV"), "Content-Type": "application/json"},
    )
    refused(documents_hub, before, response, 422, "json")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/documents/not-a-uuid"),
        ("GET", "/documents/not-a-uuid/content"),
        ("DELETE", "/documents/not-a-uuid"),
        ("GET", "/shares/not-a-uuid"),
        ("DELETE", "/shares/not-a-uuid"),
    ],
)
def test_an_id_that_is_no_uuid_names_no_resource(
    documents_hub: DocumentHub, before: Stored, method: str, path: str
) -> None:
    """Ids are UUIDs in the route itself: anything else matches no route (404), as an id that
    does not exist would, and cannot shadow a sibling route such as ``GET /documents/search``."""
    response = documents_hub.client.request(
        method, f"{API}{path}", headers=documents_hub.auth("DTV")
    )
    refused(documents_hub, before, response, 404, "no such resource")


CURSOR_REQUESTS: Final[dict[str, Callable[[DocumentHub, str], httpx.Response]]] = {
    "documents": lambda hub, cursor: hub.client.get(
        f"{API}/documents", params={"cursor": cursor}, headers=hub.auth("DTV")
    ),
    "search": lambda hub, cursor: hub.client.post(
        f"{API}/documents/search",
        json={"v_number": V_NUMBER, "cursor": cursor},
        headers=hub.auth("DTV"),
    ),
    "shares": lambda hub, cursor: hub.client.get(
        f"{API}/shares", params={"cursor": cursor}, headers=hub.auth("DTV")
    ),
}


@pytest.mark.parametrize("listing", sorted(CURSOR_REQUESTS))
@pytest.mark.parametrize("cursor", [NOT_ISSUED, "not base64 at all!"], ids=["forged", "garbage"])
def test_cursor_that_was_not_issued_is_400(
    documents_hub: DocumentHub, before: Stored, listing: str, cursor: str
) -> None:
    response = CURSOR_REQUESTS[listing](documents_hub, cursor)
    refused(documents_hub, before, response, 400, "cursor")


def test_cursor_of_another_query_is_400(documents_hub: DocumentHub) -> None:
    for seed in range(2):
        documents_hub.uploaded("DTV", pdf(seed=seed))
    first = documents_hub.client.get(
        f"{API}/documents", params={"limit": 1}, headers=documents_hub.auth("DTV")
    )
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    before = stored(documents_hub)
    response = documents_hub.client.get(
        f"{API}/documents",
        params={"limit": 1, "cursor": cursor, "document_type": "decision"},
        headers=documents_hub.auth("DTV"),
    )
    refused(documents_hub, before, response, 400, "another query")


# -- a client that hangs up --------------------------------------------------------------------


@contextmanager
def serving(services: Services) -> Iterator[tuple[str, int]]:
    """A real uvicorn server in a thread: a second replica of the hub, on the same services."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(services.settings, services=services), log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), "the server to start")
        assert server.started, "uvicorn did not start"
        host, port = listener.getsockname()
        yield host, port
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def wait_for(condition: Callable[[], bool], what: str, *, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def aborted_uploads(hub: DocumentHub) -> int:
    with hub.hub.services.engine.connect() as connection:
        found: int = connection.execute(
            text(
                "SELECT count(*) FROM audit_event WHERE action = 'document.upload' "
                "AND outcome = 'invalid' AND detail = 'upload-aborted'"
            )
        ).scalar_one()
    return found


def test_client_hanging_up_mid_upload_leaves_nothing(
    documents_hub: DocumentHub, before: Stored
) -> None:
    # 40 MiB announced, 20 MiB sent: over two of the S3 store's 8 MiB parts, so a multipart
    # upload (or a temp file) is in flight when the connection drops.
    content = pdf(40 * MIB)
    body = form(*metadata(), file(content))
    head = (
        "POST /api/v1/documents HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {documents_hub.token('DTV')}\r\n"
        f"Content-Type: {MULTIPART}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with serving(documents_hub.hub.services) as address:
        connection = socket.create_connection(address)
        try:
            connection.sendall(head + body[: len(body) // 2])
            wait_for(lambda: bool(stored(documents_hub).leftovers), "the write to begin")
        finally:
            connection.close()
        wait_for(lambda: aborted_uploads(documents_hub) == 1, "the aborted upload's record")
        wait_for(lambda: stored(documents_hub) == before, "the half-written object to go")
