"""Uploads: resumable over tus 1.0 (``/api/v1/uploads``), or in one multipart request.

The tus conversation (https://tus.io/protocols/resumable-upload, core + creation + checksum)::

    POST  /api/v1/uploads     Upload-Length, Upload-Metadata (base64 values: document_type,
                              v_number, title, filename), Idempotency-Key
          → 201 Location: /api/v1/uploads/{id}
    PATCH {Location}          Upload-Offset: N, Content-Type: application/offset+octet-stream,
                              Upload-Checksum: sha256 <base64 of this chunk's SHA-256>
          → 204 Upload-Offset: N + len(chunk)
    (the last PATCH)      → 204 … Ketenhub-Document-Id, Audit-Seq, Audit-Leaf-Hash, Audit-Receipt
    HEAD  {Location}      → Upload-Offset (after a break: where to go on)

Every request says ``Tus-Resumable: 1.0.0``. The file is read in chunks of :data:`CHUNK_SIZE`
(memory stays flat whatever the size), each sent with its checksum so a corrupted chunk is
refused (460) and sent again rather than stored. A break (no connection, a timeout, 5xx, 409
for an offset the hub does not have) is followed by ``HEAD`` and the upload goes on from the
hub's offset, after a backoff, until the session's retries are spent *without progress*.

The whole file's SHA-256 is computed on the way and compared, at the end, with what the hub
says it stored (``GET /documents/{id}``): a mismatch is :class:`~.errors.VerificationFailed`.
The v-number is metadata in a header, as tus carries it; never in the URL.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import httpx

from ketenhub_client.errors import (
    HubRefused,
    HubUnavailable,
    KetenhubClientError,
    VerificationFailed,
)
from ketenhub_client.models import Document, Receipt, Upload
from ketenhub_client.pending import Pending

if TYPE_CHECKING:
    from ketenhub_client.hub import Hub, Progress

CHUNK_SIZE: Final = 8 * 1024 * 1024
"""Bytes per PATCH: large enough that the requests cost little, small enough to resend."""

PIECE: Final = 256 * 1024
TUS: Final = {"Tus-Resumable": "1.0.0"}
UPLOADS: Final = "/api/v1/uploads"
CHECKSUM_MISMATCH: Final = 460
# Answers after which the client asks where the hub stands and goes on (with 5xx).
_BREAKS: Final = frozenset({409, CHECKSUM_MISMATCH})


def metadata_header(fields: Mapping[str, str | None]) -> str:
    """tus ``Upload-Metadata``: ``key base64(value)`` pairs, comma-separated."""
    return ",".join(
        f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}"
        for key, value in fields.items()
        if value is not None
    )


class _Hasher:
    """The SHA-256 of the file's first ``done`` bytes, moved to wherever the hub says it is."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._sha = hashlib.sha256()
        self.done = 0

    def advance(self, to: int) -> None:
        if to < self.done:  # the hub holds less than it acknowledged: hash again from 0
            self._sha, self.done = hashlib.sha256(), 0
        with self._path.open("rb") as handle:
            handle.seek(self.done)
            while self.done < to:
                piece = handle.read(min(CHUNK_SIZE, to - self.done))
                if not piece:
                    raise KetenhubClientError(f"{self._path} became shorter while uploading")
                self._sha.update(piece)
                self.done += len(piece)

    def take(self, chunk: bytes, offset: int) -> None:
        """``chunk``, which starts at ``offset``, was acknowledged."""
        if offset != self.done:
            self.advance(offset)
        self._sha.update(chunk)
        self.done += len(chunk)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def upload(
    hub: Hub,
    path: Path,
    *,
    document_type: str,
    v_number: str,
    title: str | None,
    progress: Progress | None,
    chunk_size: int,
    key: str,
    pending: Pending | None = None,
) -> Upload:
    """Upload ``path`` over tus; see the module docstring. With ``pending``, an upload of the
    same file and metadata that an earlier run left unfinished is continued (:mod:`.pending`)."""
    session = hub.session
    size = _size(path)
    fingerprint = (
        pending.fingerprint(
            hub=hub.base_url,
            client_id=session.client_id,
            path=path,
            document_type=document_type,
            v_number=v_number,
            title=title,
        )
        if pending is not None
        else None
    )
    final: httpx.Response | None = None
    found = _earlier(hub, pending, fingerprint, size)
    if found is not None:
        location, offset, final = found
    else:
        location, offset = _create(
            hub, path, size, document_type=document_type, v_number=v_number, title=title, key=key
        )
        if pending is not None and fingerprint is not None:
            pending.remember(fingerprint, location)
    resumed = found is not None
    hasher = _Hasher(path)
    if offset:
        hasher.advance(offset)
    if final is None:
        final = _send_all(
            hub, path, location, offset=offset, hasher=hasher, progress=progress,
            chunk_size=chunk_size,
        )  # fmt: skip
    if progress is not None:
        progress(size, size)
    if pending is not None and fingerprint is not None:
        pending.forget(fingerprint)  # complete: whatever the answer says, nothing to resume
    done = _finished(hub, final, path=path, size=size, sha256=_whole(hasher, size))
    return replace(done, resumed=resumed)


def _send_all(
    hub: Hub,
    path: Path,
    location: str,
    *,
    offset: int,
    hasher: _Hasher,
    progress: Progress | None,
    chunk_size: int,
) -> httpx.Response:
    """PATCH the file from ``offset`` to its end, going on from the hub's offset after each
    break; the answer that completed it."""
    session = hub.session
    size = _size(path)
    failures = 0
    with path.open("rb") as handle:
        while True:
            if progress is not None:
                progress(offset, size)
            handle.seek(offset)
            chunk = handle.read(min(chunk_size, size - offset)) if offset < size else b""
            try:
                answer = _patch(
                    hub, location, offset=offset, chunk=chunk, size=size, progress=progress
                )
            except HubUnavailable:
                answer = None
            if answer is not None and answer.status_code == 204:
                new_offset = int(answer.headers.get("upload-offset", "-1"))
                if new_offset != offset + len(chunk):
                    raise HubUnavailable(
                        f"the hub acknowledged offset {new_offset}, not {offset + len(chunk)}"
                    )
                hasher.take(chunk, offset)
                offset, failures = new_offset, 0
                if offset >= size:
                    return answer
                continue
            if (
                answer is not None
                and answer.status_code not in _BREAKS
                and answer.status_code < 500
            ):
                raise session.error(answer, method="PATCH", path=location)
            failures += 1
            if failures > session.retries:
                raise HubUnavailable(
                    f"the upload stopped at byte {offset} of {size}: the hub kept failing"
                )
            time.sleep(random.uniform(0, min(8.0, 0.5 * 2**failures)))  # noqa: S311
            # Where does the hub stand? It may have stored the chunk before the answer was lost.
            head = _head(hub, location)
            if head is not None:
                offset = int(head.headers.get("upload-offset", str(offset)))
                if offset >= size:
                    return head


def _create(
    hub: Hub,
    path: Path,
    size: int,
    *,
    document_type: str,
    v_number: str,
    title: str | None,
    key: str,
) -> tuple[str, int]:
    """A new tus upload: its path and offset (0, or more for a replayed creation)."""
    created = hub.session.request(
        "POST",
        UPLOADS,
        expect=(201,),
        headers={
            **TUS,
            "Upload-Length": str(size),
            "Upload-Metadata": metadata_header(
                {
                    "document_type": document_type,
                    "v_number": v_number,
                    "title": title,
                    "filename": path.name,
                }
            ),
            "Idempotency-Key": key,
        },
    )
    location = _location(hub, created.headers.get("location"))
    return location, int(created.headers.get("upload-offset", "0") or 0)


def _earlier(
    hub: Hub, pending: Pending | None, fingerprint: str | None, size: int
) -> tuple[str, int, httpx.Response | None] | None:
    """An earlier run's unfinished upload of this file that the hub still holds: its path, the
    hub's offset, and the HEAD answer if it is already complete; None to start afresh."""
    if pending is None or fingerprint is None:
        return None
    kept = pending.location(fingerprint)
    if kept is None:
        return None
    try:
        location = _location(hub, kept)
        head = hub.session.request("HEAD", location, headers=TUS, expect=(200, 204))
    except (HubRefused, HubUnavailable):
        # Expired, ended, or unreadable: a new upload; the hub sweeps the old one.
        pending.forget(fingerprint)
        return None
    if int(head.headers.get("upload-length", "-1")) != size:
        pending.forget(fingerprint)
        return None
    offset = int(head.headers.get("upload-offset", "0"))
    return location, offset, (head if offset >= size else None)


def _whole(hasher: _Hasher, size: int) -> str:
    hasher.advance(size)
    return hasher.hexdigest()


def _patch(
    hub: Hub,
    location: str,
    *,
    offset: int,
    chunk: bytes,
    size: int,
    progress: Progress | None,
) -> httpx.Response:
    digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode("ascii")

    def pieces() -> Iterator[bytes]:
        # Sent in pieces so the progress moves within a chunk; a retry starts the chunk again.
        for start in range(0, len(chunk), PIECE):
            piece = chunk[start : start + PIECE]
            yield piece
            if progress is not None:
                progress(offset + start + len(piece), size)

    def body() -> dict[str, Any]:
        return {"content": pieces()}

    return hub.session.send(
        "PATCH",
        location,
        headers={
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(len(chunk)),
            "Upload-Checksum": f"sha256 {digest}",
        },
        body=body,
    )


def _head(hub: Hub, location: str) -> httpx.Response | None:
    try:
        head = hub.session.request("HEAD", location, headers=TUS, expect=(200, 204))
    except HubUnavailable:
        return None
    except HubRefused as exc:
        raise HubRefused(
            exc.status, exc.problem, method="HEAD", path=location
        ) from exc  # the upload expired or was ended: resuming cannot succeed
    return head


def _finished(
    hub: Hub, final: httpx.Response | None, *, path: Path, size: int, sha256: str
) -> Upload:
    headers = final.headers if final is not None else httpx.Headers()
    document_id = headers.get("ketenhub-document-id")
    receipt = Receipt.from_headers(headers)
    if document_id is None:
        raise HubUnavailable(
            f"{path.name} arrived whole, but the hub's answer naming the document was lost; "
            "`ketenhub-client list` shows it"
        )
    if receipt is None:
        # The last PATCH's answer was lost; HEAD names the document but carries no receipt.
        raise HubUnavailable(
            f"{path.name} arrived whole as document {document_id}, but the answer with its "
            "receipt was lost; the audit trail holds the upload's event"
        )
    document = hub.document(document_id)
    _check(document, sha256=sha256, size=size)
    return Upload(document_id, sha256, size, receipt, document)


def _check(document: Document, *, sha256: str, size: int) -> None:
    if document.sha256.lower() != sha256 or document.size != size:
        raise VerificationFailed(
            f"the hub stored {document.size} bytes with SHA-256 {document.sha256}, "
            f"but this client sent {size} bytes with SHA-256 {sha256}"
        )


def _location(hub: Hub, location: str | None) -> str:
    """The upload's path, from ``Location``: relative, or absolute on this hub's origin only
    (the token must never go to another server)."""
    if not location:
        raise HubUnavailable("the hub created an upload without a Location")
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        base = urlsplit(hub.base_url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            raise HubUnavailable(f"the hub sent the upload elsewhere ({location}); not following")
    if not parts.path.startswith(f"{UPLOADS}/"):
        raise HubUnavailable(f"the hub's upload Location {location!r} is not under {UPLOADS}")
    return parts.path


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise KetenhubClientError(f"cannot read {path}: {exc.strerror}") from exc


def upload_form(
    hub: Hub,
    path: Path,
    *,
    document_type: str,
    v_number: str,
    title: str | None,
    key: str,
) -> Upload:
    """``POST /api/v1/documents`` as one multipart request (the fields before the file)."""
    size = _size(path)
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for piece in iter(lambda: handle.read(CHUNK_SIZE), b""):
            sha.update(piece)
    fields = {"document_type": document_type, "v_number": v_number}
    if title is not None:
        fields["title"] = title
    opened: list[Any] = []

    def body() -> dict[str, Any]:
        handle = path.open("rb")
        opened.append(handle)
        return {"data": fields, "files": {"file": (path.name, handle, "application/octet-stream")}}

    try:
        response = hub.session.send(
            "POST", "/api/v1/documents", headers={"Idempotency-Key": key}, body=body
        )
    finally:
        for handle in opened:
            handle.close()
    if response.status_code != 201:
        raise hub.session.error(response, method="POST", path="/api/v1/documents")
    answer = response.json()
    document = Document.from_json(answer)
    _check(document, sha256=sha.hexdigest(), size=size)
    return Upload(
        document.id,
        sha.hexdigest(),
        size,
        Receipt.from_json(answer.get("receipt") or {}),
        document,
        replayed=response.headers.get("idempotent-replayed") == "true",
    )
