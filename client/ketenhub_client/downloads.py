"""Downloads that survive breaks: ``FILE.part``, ``Range`` with ``If-Range``, and a digest check.

A download of document ``ID`` into ``FILE`` writes to ``FILE.part`` and keeps beside it
``FILE.part.json``: the hub, the document id, the representation's ``ETag``, size and
``Repr-Digest``, and the receipts of the answers that delivered the bytes so far. Both are
written before the first byte, and the part is flushed and fsynced when the transfer stops for
any reason (a break, Ctrl-C, an error), so a later run finds them.

Resumption rules:

- A part of the same hub and document, shorter than the representation, is resumed with
  ``Range: bytes=N-`` and ``If-Range: <the ETag it was fetched under>``.
- ``206`` whose ``Content-Range`` starts at N: the bytes are appended.
- ``200`` (the ETag no longer matches, or the hub ignores ranges): the part is truncated and
  filled from the start; the older receipts are dropped with the bytes they vouched for.
- A part without its sidecar, of another document, or longer than the representation is
  started over: nothing is appended to bytes whose origin is unknown.

Only when the whole part's SHA-256 equals the hub's ``Repr-Digest: sha-256=:…:`` (RFC 9530)
is it renamed to ``FILE`` (atomically, and the directory fsynced). A mismatch deletes the part
(a rerun starts clean) and raises :class:`~.errors.VerificationFailed`; no file named ``FILE``
ever holds unverified bytes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx

from ketenhub_client.errors import (
    HubUnavailable,
    KetenhubClientError,
    VerificationFailed,
)
from ketenhub_client.models import Download, Receipt

if TYPE_CHECKING:
    from ketenhub_client.hub import Hub, Progress

_CONTENT_RANGE: Final = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_DIGEST: Final = re.compile(r"(?:^|,)\s*sha-256=:([A-Za-z0-9+/=]+):")
SYNC_EVERY: Final = 64 * 1024 * 1024
"""Bytes written between fsyncs while streaming: a crash loses at most this much progress."""


@dataclass
class PartState:
    """What ``FILE.part.json`` holds (see the module docstring)."""

    hub: str
    document_id: str
    etag: str | None = None
    size: int | None = None
    sha256: str | None = None
    receipts: list[Receipt] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "hub": self.hub,
            "document_id": self.document_id,
            "etag": self.etag,
            "size": self.size,
            "sha256": self.sha256,
            "receipts": [receipt.as_json() for receipt in self.receipts],
        }

    @classmethod
    def load(cls, path: Path) -> PartState | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                hub=str(raw["hub"]),
                document_id=str(raw["document_id"]),
                etag=raw.get("etag"),
                size=raw.get("size"),
                sha256=raw.get("sha256"),
                receipts=[Receipt.from_json(r) for r in raw.get("receipts") or []],
            )
        except (OSError, ValueError, KeyError, TypeError, KetenhubClientError):
            return None

    def save(self, path: Path) -> None:
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(self.as_json(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)


def part_paths(path: Path) -> tuple[Path, Path]:
    """``FILE.part`` and its sidecar ``FILE.part.json``."""
    return path.with_name(path.name + ".part"), path.with_name(path.name + ".part.json")


def repr_digest(value: str | None) -> str | None:
    """The hex SHA-256 of a ``Repr-Digest`` field (RFC 9530), if it has one."""
    match = _DIGEST.search(value or "")
    if match is None:
        return None
    try:
        raw = base64.b64decode(match.group(1), validate=True)
    except binascii.Error:
        return None
    return raw.hex() if len(raw) == 32 else None


def download(hub: Hub, document_id: str, path: Path, *, progress: Progress | None) -> Download:
    """See the module docstring."""
    document_id = str(uuid.UUID(document_id))
    part, sidecar = part_paths(path)
    state = PartState.load(sidecar) if part.exists() else None
    offset = part.stat().st_size if part.exists() else 0
    if (
        state is None
        or state.hub != hub.base_url
        or state.document_id != document_id
        or (state.size is not None and offset > state.size)
        or state.etag is None
    ):
        state, offset = PartState(hub.base_url, document_id), 0
    resumed = offset > 0
    failures = 0
    session = hub.session
    while state.size is None or offset < state.size:
        before = offset
        try:
            offset = _fetch(
                hub,
                document_id,
                part=part,
                sidecar=sidecar,
                state=state,
                offset=offset,
                progress=progress,
            )
        except (HubUnavailable, httpx.TransportError) as exc:
            offset = part.stat().st_size if part.exists() else 0
            failures = 0 if offset > before else failures + 1
            if failures > session.retries:
                raise HubUnavailable(
                    f"the download stopped at byte {offset}; {part} is kept, run the same "
                    "command again to resume"
                ) from exc
            time.sleep(random.uniform(0, min(8.0, 0.5 * 2**failures)))  # noqa: S311
    return _finish(document_id, path, part, sidecar, state, resumed=resumed)


def _fetch(
    hub: Hub,
    document_id: str,
    *,
    part: Path,
    sidecar: Path,
    state: PartState,
    offset: int,
    progress: Progress | None,
) -> int:
    """One GET of the content from ``offset``; the part's new length."""
    headers: dict[str, str] = {"Accept-Encoding": "identity"}
    if offset > 0 and state.etag:
        headers.update({"Range": f"bytes={offset}-", "If-Range": state.etag})
    target = f"/api/v1/documents/{document_id}/content"
    with hub.session.stream("GET", target, headers=headers) as response:
        if response.status_code == 416:
            # Nothing left to send from ``offset``: start over rather than guess.
            state.receipts.clear()
            state.size = None
            return _truncate(part, 0)
        if response.status_code not in {200, 206}:
            raise hub.session.error(response, method="GET", path=target)
        start = 0
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if match is None or int(match.group(1)) != offset:
                raise HubUnavailable(f"the hub answered a range that does not start at {offset}")
            start, total = offset, int(match.group(3))
        else:
            total = int(response.headers.get("content-length", "-1"))
            state.receipts.clear()  # a 200 sends everything again: the old part is replaced
        if total < 0:
            raise HubUnavailable("the hub sent content of unknown length")
        state.etag = response.headers.get("etag")
        state.size = total
        state.sha256 = repr_digest(response.headers.get("repr-digest"))
        receipt = Receipt.from_headers(response.headers)
        if receipt is not None:
            state.receipts.append(receipt)
        _truncate(part, start)
        state.save(sidecar)
        return _stream(response, part, start, total, progress)


def _truncate(part: Path, length: int) -> int:
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.ftruncate(descriptor, length)
    finally:
        os.close(descriptor)
    return length


def _stream(
    response: httpx.Response, part: Path, start: int, total: int, progress: Progress | None
) -> int:
    written = start
    unsynced = 0
    with part.open("r+b") as handle:
        handle.seek(start)
        try:
            if progress is not None:
                progress(written, total)
            for chunk in response.iter_bytes():
                handle.write(chunk)
                written += len(chunk)
                unsynced += len(chunk)
                if unsynced >= SYNC_EVERY:
                    handle.flush()
                    os.fsync(handle.fileno())
                    unsynced = 0
                if progress is not None:
                    progress(written, total)
        finally:
            # Whatever stops the transfer (a break, Ctrl-C), what arrived is kept for a rerun.
            handle.flush()
            os.fsync(handle.fileno())
    return written


def _finish(
    document_id: str, path: Path, part: Path, sidecar: Path, state: PartState, *, resumed: bool
) -> Download:
    sha = hashlib.sha256()
    size = 0
    with part.open("rb") as handle:
        for piece in iter(lambda: handle.read(1024 * 1024), b""):
            sha.update(piece)
            size += len(piece)
    computed = sha.hexdigest()
    if state.sha256 is None or computed != state.sha256 or size != state.size:
        expected = state.sha256 or "(no Repr-Digest sent)"
        for leftover in (part, sidecar):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        raise VerificationFailed(
            f"the download of {document_id} does not match the hub's digest: expected SHA-256 "
            f"{expected} of {state.size} bytes, got {computed} of {size}; the part was deleted"
        )
    part.replace(path)
    with contextlib.suppress(OSError):  # not every file system lets a directory be fsynced
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    sidecar.unlink(missing_ok=True)
    return Download(document_id, str(path), computed, size, list(state.receipts), resumed=resumed)
