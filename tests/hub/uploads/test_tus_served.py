"""tus against a real hub process: ``tuspy``, an independent tus client, uploading in chunks with
checksums; a body that breaks off in the middle and is resumed from HEAD's offset; two PATCHes
at one offset, of which exactly one wins."""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
from tusclient import client as tus_client

from storage.envelope import FIRST_SEGMENT_PLAINTEXT
from tests.fixtures.documents import pdf
from tests.fixtures.served import ServedHub
from tests.hub.uploads.tus import OCTETS, TUS, encode_metadata

WRITE = "documents:read documents:write"


def auth(served_hub: ServedHub) -> dict[str, str]:
    return {"Authorization": f"Bearer {served_hub.token('demo-iom', WRITE)}"}


def create(served_hub: ServedHub, length: int) -> str:
    response = httpx.post(
        f"{served_hub.base_url}/api/v1/uploads",
        headers={
            **auth(served_hub),
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": encode_metadata(
                document_type="travel_document", v_number="1234567890"
            ),
        },
    )
    assert response.status_code == 201, response.text
    return f"{served_hub.base_url}{response.headers['location']}"


def head(served_hub: ServedHub, url: str) -> httpx.Response:
    response = httpx.head(url, headers={**auth(served_hub), **TUS})
    assert response.status_code == 200, response.text
    return response


def download(served_hub: ServedHub, document_id: str) -> bytes:
    response = httpx.get(
        f"{served_hub.base_url}/api/v1/documents/{document_id}/content",
        headers=auth(served_hub),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.content


def test_tuspy_uploads_in_checksummed_chunks_and_the_download_is_equal(
    served_hub: ServedHub,
) -> None:
    content = pdf(2 * FIRST_SEGMENT_PLAINTEXT + 12_345, seed=7)
    tus = tus_client.TusClient(f"{served_hub.base_url}/api/v1/uploads", headers=auth(served_hub))
    uploader = tus.uploader(
        file_stream=io.BytesIO(content),
        chunk_size=700_001,  # splits the encryption's segments at other places each time
        metadata={
            "document_type": "travel_document",
            "v_number": "1234567890",
            "filename": "scan.pdf",
        },
        upload_checksum=True,  # sha1 Upload-Checksum on every PATCH
    )
    uploader.upload()
    assert uploader.offset == len(content)
    state = head(served_hub, str(uploader.url))
    assert state.headers["upload-offset"] == str(len(content))
    assert download(served_hub, state.headers["ketenhub-document-id"]) == content


def test_a_body_that_breaks_off_is_resumed_from_the_offset_head_tells(
    served_hub: ServedHub,
) -> None:
    content = pdf(3 * FIRST_SEGMENT_PLAINTEXT, seed=8)
    url = create(served_hub, len(content))
    sent = 2 * FIRST_SEGMENT_PLAINTEXT + 1000
    target = urlsplit(url)
    request = (
        f"PATCH {target.path} HTTP/1.1\r\n"
        f"Host: {target.netloc}\r\n"
        f"Authorization: {auth(served_hub)['Authorization']}\r\n"
        "Tus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        "Upload-Offset: 0\r\n"
        f"Content-Length: {len(content)}\r\n\r\n"
    ).encode("ascii")
    with socket.create_connection((served_hub.host, served_hub.port)) as connection:
        connection.sendall(request + content[:sent])
        connection.shutdown(socket.SHUT_WR)  # the break: the rest never comes
        connection.recv(65536)  # the hub answers (or just closes) once it has let go
    # The hub lets go of the connection before it has committed what arrived, so resume as a
    # tus client does: HEAD, PATCH from there, and on 409 (the broken request committed in
    # between) ask again.
    for _attempt in range(50):
        offset = int(head(served_hub, url).headers["upload-offset"])
        # What arrived before the break is kept (uvicorn may drop what it still buffered).
        assert 0 <= offset <= sent
        response = httpx.patch(
            url,
            content=content[offset:],
            headers={**auth(served_hub), **TUS, **OCTETS, "Upload-Offset": str(offset)},
            timeout=60,
        )
        if response.status_code != 409:
            break
        time.sleep(0.1)
    assert response.status_code == 204, response.text
    assert download(served_hub, response.headers["ketenhub-document-id"]) == content


def test_of_two_patches_at_one_offset_exactly_one_is_kept(served_hub: ServedHub) -> None:
    content = pdf(2_500_000, seed=9)
    url = create(served_hub, len(content))
    first_half = content[:1_300_000]
    statuses: list[int] = []

    def patch() -> None:
        response = httpx.patch(
            url,
            content=first_half,
            headers={**auth(served_hub), **TUS, **OCTETS, "Upload-Offset": "0"},
            timeout=60,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=patch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [204, 409]
    assert head(served_hub, url).headers["upload-offset"] == str(len(first_half))
    digest = base64.b64encode(hashlib.sha256(content[len(first_half) :]).digest()).decode()
    response = httpx.patch(
        url,
        content=content[len(first_half) :],
        headers={
            **auth(served_hub),
            **TUS,
            **OCTETS,
            "Upload-Offset": str(len(first_half)),
            "Upload-Checksum": f"sha256 {digest}",
        },
        timeout=60,
    )
    assert response.status_code == 204, response.text
    assert download(served_hub, response.headers["ketenhub-document-id"]) == content
