"""tus 1.0 against the hub on both backend pairs: creation, PATCH in chunks that split the
encryption's segments, HEAD, completion into an ordinary document, termination."""

from __future__ import annotations

import base64
import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session

from audit.models import AuditEvent
from hub.auditing.repository import leaf_of
from storage.envelope import FIRST_SEGMENT_PLAINTEXT, SEGMENT_PLAINTEXT
from tests.fixtures.documents import DocumentHub, pdf
from tests.fixtures.receipts import check_receipt, leaf_hash
from tests.hub.uploads.tus import OCTETS, Tus


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    return module_documents_hub


@pytest.mark.parametrize(
    ("size", "chunk"),
    [
        (10, 3),
        (FIRST_SEGMENT_PLAINTEXT, 300_000),
        (FIRST_SEGMENT_PLAINTEXT + 1, FIRST_SEGMENT_PLAINTEXT),
        (FIRST_SEGMENT_PLAINTEXT + SEGMENT_PLAINTEXT, 700_001),
        (FIRST_SEGMENT_PLAINTEXT + SEGMENT_PLAINTEXT + 17, 1 << 20),
    ],
)
def test_an_upload_in_chunks_becomes_the_document_it_sent(
    documents_hub: DocumentHub, size: int, chunk: int
) -> None:
    content = pdf(size)
    last = Tus(documents_hub).send(content, chunk)
    document_id = last.headers["ketenhub-document-id"]
    assert last.headers["tus-resumable"] == "1.0.0"
    assert int(last.headers["audit-seq"]) >= 0
    download = documents_hub.content("IOM", document_id)
    assert download.status_code == 200, download.text
    assert download.content == content
    metadata = documents_hub.client.get(
        f"/api/v1/documents/{document_id}", headers=documents_hub.auth("IOM")
    ).json()
    assert metadata["sha256"] == hashlib.sha256(content).hexdigest()
    assert metadata["size"] == size
    assert metadata["filename"] == "scan.pdf"
    # The completion's receipt, checked by a verifier written from docs/formats.md alone: the
    # signed note names the leaf, and the leaf the content delivered.
    note = base64.b64decode(last.headers["audit-receipt"], validate=True).decode("utf-8")
    (verifier, *_) = documents_hub.hub.services.audit.verifiers
    checked = check_receipt(note, verifier.encoded())
    assert str(checked.seq) == last.headers["audit-seq"]
    assert base64.b64encode(checked.leaf_hash).decode() == last.headers["audit-leaf-hash"]
    with Session(documents_hub.hub.services.engine) as session:
        event = session.get(AuditEvent, checked.seq)
        assert event is not None
        leaf = leaf_of(event)
    assert leaf_hash(leaf) == checked.leaf_hash
    assert (leaf["action"], leaf["resource_id"]) == ("document.upload", document_id)
    assert (leaf["content_sha256"], leaf["content_size"]) == (metadata["sha256"], size)


def test_a_patch_streamed_in_small_pieces_across_segments(documents_hub: DocumentHub) -> None:
    """One PATCH whose body arrives in 64 KiB pieces and completes several segments (the
    object's header must come once, before segment 0, however the body is cut)."""
    content = pdf(3 * FIRST_SEGMENT_PLAINTEXT, seed=3)
    tus = Tus(documents_hub)
    location = tus.created(len(content))
    sent = len(content) - 5000
    pieces = [content[i : min(i + 65536, sent)] for i in range(0, sent, 65536)]
    response = documents_hub.client.patch(
        location, content=iter(pieces), headers=tus.headers(**OCTETS, **{"Upload-Offset": "0"})
    )
    assert response.status_code == 204, response.text
    assert response.headers["upload-offset"] == str(sent)
    done = tus.patch(location, sent, content[sent:])
    assert done.status_code == 204, done.text
    download = documents_hub.content("IOM", done.headers["ketenhub-document-id"])
    assert download.content == content


def test_of_two_concurrent_patches_at_one_offset_one_is_kept(documents_hub: DocumentHub) -> None:
    """On each backend (PostgreSQL's row lock under the compare-and-set, SQLite's writer lock)."""
    content = pdf(2 * FIRST_SEGMENT_PLAINTEXT, seed=5)
    tus = Tus(documents_hub)
    location = tus.created(len(content))
    first = content[: FIRST_SEGMENT_PLAINTEXT + 100]
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: tus.patch(location, 0, first), range(2)))
    assert sorted(a.status_code for a in answers) == [204, 409]
    done = tus.patch(location, len(first), content[len(first) :])
    assert done.status_code == 204, done.text
    document_id = done.headers["ketenhub-document-id"]
    assert documents_hub.content("IOM", document_id).content == content
    start = FIRST_SEGMENT_PLAINTEXT - 10  # a range across the first segment boundary
    ranged = documents_hub.content("IOM", document_id, Range=f"bytes={start}-{start + 19}")
    assert ranged.status_code == 206
    assert ranged.content == content[start : start + 20]
