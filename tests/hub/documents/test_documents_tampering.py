"""Tampered objects in the store: the hub answers with an error, never with wrong bytes.

Each test changes the stored object behind the hub's back (the file under the filesystem
store's root, or the S3 object through an administrator's client, under the same key) and then
downloads it. DESIGN.md: "Corruption is an error, never wrong bytes", and every failure is in
the audit trail as a ``document.download`` event with outcome ``error``.

Where the damage is decides how the error shows:

- in the first segment served (or a truncated or swapped object, which fail before decryption
  starts), the hub knows before it answers: a clean 500 problem document, no content byte sent;
- in a later segment, the answer has already started (200, with the earlier segments): the
  transfer is cut short, so the client holds a prefix of the true content and knows that it is
  incomplete (fewer bytes than ``Content-Length``), never a complete body with wrong bytes;
- a byte range that touches only undamaged segments is still served, correctly: every segment
  is authenticated on its own, so damage elsewhere does not spoil it.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from hub.tables.vault import SealedObject
from storage.envelope import (
    FIRST_SEGMENT_PLAINTEXT,
    HEADER_SIZE,
    PREFIX_SIZE,
    SEGMENT_PLAINTEXT,
    SEGMENT_SIZE,
)
from storage.objects import FilesystemStore
from tests.fixtures.documents import API, DocumentHub, pdf
from tests.fixtures.stores import S3Server

MIB = 1 << 20
THIRD_SEGMENT = PREFIX_SIZE + 2 * SEGMENT_SIZE
"""Where segment 2 (the third) starts in the object: segments are counted from the Tink header."""
THIRD_SEGMENT_PLAINTEXT = FIRST_SEGMENT_PLAINTEXT + SEGMENT_PLAINTEXT
"""Where the third segment's plaintext starts in the document."""


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    """One hub per backend for this module (see ``module_documents_hub``)."""
    return module_documents_hub


# -- arranging the damage ----------------------------------------------------------------------


def object_key(documents_hub: DocumentHub, document_id: str) -> str:
    with Session(documents_hub.hub.services.engine) as session:
        statement = select(SealedObject).where(
            col(SealedObject.document_id) == uuid.UUID(document_id)
        )
        return session.exec(statement).one().object_key


def read_object(documents_hub: DocumentHub, key: str) -> bytes:
    store = documents_hub.hub.services.store
    if isinstance(store, FilesystemStore):
        return (store.root / key[:2] / key).read_bytes()
    response = S3Server.from_environment("seaweed").admin().get_object(bucket(documents_hub), key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def write_object(documents_hub: DocumentHub, key: str, data: bytes) -> None:
    store = documents_hub.hub.services.store
    if isinstance(store, FilesystemStore):
        (store.root / key[:2] / key).write_bytes(data)
        return
    admin = S3Server.from_environment("seaweed").admin()
    admin.put_object(bucket(documents_hub), key, io.BytesIO(data), len(data))


def bucket(documents_hub: DocumentHub) -> str:
    connection = documents_hub.hub.services.settings.s3_connection
    assert connection is not None
    return connection.bucket


def flip_bit(documents_hub: DocumentHub, document_id: str, offset: int) -> None:
    key = object_key(documents_hub, document_id)
    data = bytearray(read_object(documents_hub, key))
    data[offset] ^= 0x10
    write_object(documents_hub, key, bytes(data))


def download_events(documents_hub: DocumentHub, document_id: str) -> list[tuple[str, str | None]]:
    with Session(documents_hub.hub.services.engine) as session:
        statement = (
            select(AuditEvent)
            .where(
                col(AuditEvent.action) == "document.download",
                col(AuditEvent.resource_id) == document_id,
            )
            .order_by(col(AuditEvent.seq))
        )
        return [(e.outcome, e.detail) for e in session.exec(statement).all()]


def assert_clean_500(response: httpx.Response, content: bytes) -> None:
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 500
    assert problem["type"] == "urn:ketenhub:problem:stored-content-unavailable"
    assert content[:16] not in response.content
    assert "etag" not in response.headers


def streamed(documents_hub: DocumentHub, document_id: str) -> tuple[int, int, bytes]:
    """Status, announced length and whatever body arrived before the transfer stopped."""
    received = bytearray()
    with documents_hub.client.stream(
        "GET", f"{API}/documents/{document_id}/content", headers=documents_hub.auth("IOM")
    ) as response:
        try:
            for chunk in response.iter_bytes():
                received += chunk
        except (httpx.HTTPError, RuntimeError):
            pass  # what a client sees when the server aborts: the body ends early
        return response.status_code, int(response.headers["content-length"]), bytes(received)


# -- the cases ---------------------------------------------------------------------------------


def test_a_flipped_bit_in_the_first_segment_is_a_clean_500(documents_hub: DocumentHub) -> None:
    content = pdf(64 * 1024)
    document_id = documents_hub.uploaded("IOM", content)["id"]
    flip_bit(documents_hub, document_id, HEADER_SIZE + 1000)

    assert_clean_500(documents_hub.content("IOM", document_id), content)
    # The success event the download wrote first was rolled back with the request.
    assert download_events(documents_hub, document_id) == [("error", "integrity")]


def test_a_flipped_bit_in_a_later_segment_cuts_the_transfer_short(
    documents_hub: DocumentHub,
) -> None:
    content = pdf(3 * MIB)
    document_id = documents_hub.uploaded("IOM", content)["id"]
    flip_bit(documents_hub, document_id, THIRD_SEGMENT + 500)

    status, announced, body = streamed(documents_hub, document_id)
    assert status == 200
    assert announced == len(content)
    assert len(body) < len(content), "a complete body from a damaged object"
    assert body == content[: len(body)], "bytes that were never uploaded"
    assert len(body) <= THIRD_SEGMENT_PLAINTEXT  # nothing of the damaged segment or after
    # Recorded before the first byte left, and the failure afterwards, on its own.
    assert download_events(documents_hub, document_id) == [
        ("success", None),
        ("error", "integrity"),
    ]


def test_a_range_in_undamaged_segments_is_still_served(documents_hub: DocumentHub) -> None:
    """Damage in the third segment spoils neither a range in the first two (206, the true
    bytes) nor the metadata; a range that starts in the damaged segment is a clean 500."""
    content = pdf(3 * MIB)
    document_id = documents_hub.uploaded("IOM", content)["id"]
    flip_bit(documents_hub, document_id, THIRD_SEGMENT + 500)

    first, last = FIRST_SEGMENT_PLAINTEXT - 10, FIRST_SEGMENT_PLAINTEXT + 10
    served = documents_hub.content("IOM", document_id, Range=f"bytes={first}-{last}")
    assert served.status_code == 206
    assert served.content == content[first : last + 1]
    start = THIRD_SEGMENT_PLAINTEXT + 100
    damaged = documents_hub.content("IOM", document_id, Range=f"bytes={start}-")
    assert_clean_500(damaged, content[start:])
    assert download_events(documents_hub, document_id) == [
        ("success", f"bytes {first}-{last}"),
        ("error", "integrity"),
    ]


def test_a_truncated_object_is_a_clean_500(documents_hub: DocumentHub) -> None:
    """Cut at a segment boundary, where only the last-segment flag and the recorded size can
    tell; the hub checks the size before it decrypts anything."""
    content = pdf(3 * MIB)
    document_id = documents_hub.uploaded("IOM", content)["id"]
    key = object_key(documents_hub, document_id)
    write_object(documents_hub, key, read_object(documents_hub, key)[:THIRD_SEGMENT])

    assert_clean_500(documents_hub.content("IOM", document_id), content)
    assert download_events(documents_hub, document_id) == [("error", "integrity")]


def test_an_object_swapped_with_another_documents_is_a_clean_500(
    documents_hub: DocumentHub,
) -> None:
    """Both documents have the same size, so only the binding of the object to its document
    and data key (associated data, key commitment) can catch the swap."""
    mine, other = pdf(5000, seed=1), pdf(5000, seed=2)
    document_id = documents_hub.uploaded("IOM", mine)["id"]
    other_id = documents_hub.uploaded("IOM", other)["id"]
    other_object = read_object(documents_hub, object_key(documents_hub, other_id))
    write_object(documents_hub, object_key(documents_hub, document_id), other_object)

    swapped = documents_hub.content("IOM", document_id)
    assert_clean_500(swapped, mine)
    assert other[:16] not in swapped.content
    assert download_events(documents_hub, document_id) == [("error", "integrity")]
    assert documents_hub.content("IOM", other_id).content == other


def open_descriptors() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


def test_downloads_of_many_segments_close_their_objects_however_they_end(
    documents_hub: DocumentHub,
) -> None:
    """Whole, a range, or cut short by damage: every segment after the first is read on the
    readers' pool, and the object (a file, an S3 connection) is closed when the answer ends."""
    content = pdf(3 * MIB + 5)
    document_id = documents_hub.uploaded("IOM", content)["id"]
    damaged_id = documents_hub.uploaded("IOM", content)["id"]
    flip_bit(documents_hub, damaged_id, THIRD_SEGMENT + 500)
    start = FIRST_SEGMENT_PLAINTEXT - 3

    def download_all() -> None:
        assert documents_hub.content("IOM", document_id).content == content
        ranged = documents_hub.content("IOM", document_id, Range=f"bytes={start}-")
        assert ranged.status_code == 206
        assert ranged.content == content[start:]
        status, _, body = streamed(documents_hub, damaged_id)
        assert status == 200
        assert body == content[: len(body)]
        assert len(body) <= THIRD_SEGMENT_PLAINTEXT

    download_all()  # warm up: pools of threads and connections fill once
    before = open_descriptors()
    for _ in range(5):
        download_all()
    assert open_descriptors() - before < 3
