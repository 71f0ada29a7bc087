"""Unfinished uploads remembered between runs, so an upload stopped by Ctrl-C, a crash or a
reboot goes on where the hub has it instead of starting over.

Each unfinished tus upload is a file ``<directory>/<fingerprint>.json`` holding its
``Location`` (and when it was made). The fingerprint names *this* upload: an HMAC-SHA256,
under a random key kept beside the entries (``key``, mode 0600), of the hub, the client, the
file's absolute path, size and modification time, and the upload's metadata (type, v-number,
title). The same command on the same unchanged file finds its entry; anything else does not.
The key makes the fingerprint say nothing of the v-number to whoever reads the directory (a
plain hash of a 10-digit number is reversed by trying them all).

An entry is written once the hub created the upload and removed once it is complete, or when
the hub no longer knows it (expired, terminated: 404/410). The hub's own checks stay in force
on a resumed upload: each chunk's checksum, and the whole file's SHA-256 compared at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Pending:
    """The unfinished uploads kept in ``directory``."""

    directory: Path

    def fingerprint(
        self,
        *,
        hub: str,
        client_id: str,
        path: Path,
        document_type: str,
        v_number: str,
        title: str | None,
    ) -> str:
        info = path.stat()
        fields = [
            hub,
            client_id,
            str(path.resolve()),
            info.st_size,
            info.st_mtime_ns,
            document_type,
            v_number,
            title,
        ]
        text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        return hmac.new(self._key(), text.encode("utf-8"), hashlib.sha256).hexdigest()

    def location(self, fingerprint: str) -> str | None:
        try:
            loaded = json.loads((self.directory / f"{fingerprint}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        found = loaded.get("location") if isinstance(loaded, dict) else None
        return found if isinstance(found, str) else None

    def remember(self, fingerprint: str, location: str) -> None:
        entry = {"location": location, "created_at": datetime.now(UTC).isoformat()}
        _write_private(self.directory / f"{fingerprint}.json", json.dumps(entry).encode())

    def forget(self, fingerprint: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / f"{fingerprint}.json").unlink()

    def _key(self) -> bytes:
        path = self.directory / "key"
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = b""
        if len(key) != 32:
            key = secrets.token_bytes(32)
            _write_private(path, key)
        return key


def _write_private(path: Path, data: bytes) -> None:
    """``data`` into ``path`` (mode 0600, its directory 0700), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
