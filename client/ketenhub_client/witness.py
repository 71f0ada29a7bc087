"""What a partner's client remembers of a hub's audit log, so it can act as a witness.

A signed checkpoint only proves something to someone who compares it with the checkpoints
they saw before: a hub that showed one partner a log and another partner (or an auditor) a
different one would sign two checkpoints that no consistency proof can join. So the client
keeps, per hub and log origin:

* the audit verifier keys, pinned the first time it saw them (trust on first use, as ssh does
  with host keys): a key the hub signs with later that is not pinned is reported, never
  silently trusted;
* the newest checkpoint it verified (the signed note itself, so it is evidence in its own
  right), replaced only by a later one that a consistency proof shows extends it;
* the evidence of every split view it detected: both checkpoints and the reason.

The file is ``$XDG_STATE_HOME/ketenhub-client/witness/<host>[_<port>].json`` (by default
``~/.local/state/…``), mode 0600, one per hub; a scheme other than https adds ``-<scheme>`` and
a base URL with a path a short hash of it to the name. It is replaced atomically (a temporary
file, fsync, rename) and used under an exclusive lock, so two commands running at once never
lose or roll back a checkpoint. The format, version 1::

    {"version": 1, "hub": "<base URL>",
     "logs": {"<origin>": {
        "keys": [{"verifier_key": "<name+keyid+base64>", "pinned_at": "<RFC 3339>"}],
        "checkpoint": {"note": "<signed note>", "seen_at": "<RFC 3339>"} | null,
        "split_views": [{"detected_at", "reason", "kept_note", "seen_note"}]}}}
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ketenhub_client.notes import Checkpoint, VerifierKey, open_note
from ketenhub_client.verification_errors import VerificationError, WitnessStateError

__all__ = [
    "KeptCheckpoint",
    "LogView",
    "WitnessState",
    "default_state_dir",
    "open_witness",
    "state_path",
]

_VERSION = 1


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/ketenhub-client/witness``, ``~/.local/state/…`` when it is unset."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ketenhub-client" / "witness"


def state_path(hub_url: str, state_dir: Path | None = None) -> Path:
    """The state file of the hub at ``hub_url``: ``<host>[_<port>][-http][-<path hash>].json``."""
    parts = urlsplit(hub_url.rstrip("/"))
    if not parts.hostname:
        raise WitnessStateError(f"{hub_url!r} is not a hub URL with a host name")
    name = parts.hostname
    if parts.port is not None:
        name += f"_{parts.port}"
    if parts.scheme != "https":
        name += f"-{parts.scheme}"  # a demo hub over http never shares a file with https
    if parts.path:
        name += "-" + hashlib.sha256(parts.path.encode()).hexdigest()[:8]
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)
    return (state_dir or default_state_dir()) / f"{safe}.json"


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class KeptCheckpoint:
    """A checkpoint this client verified; ``note`` is the hub's signed note itself."""

    note: str
    checkpoint: Checkpoint
    seen_at: str


@dataclass(slots=True)
class LogView:
    """What the client knows of one log (one origin) of the hub."""

    keys: dict[str, str] = field(default_factory=dict)
    """Pinned verifier keys (encoded) and when they were pinned."""
    checkpoint: KeptCheckpoint | None = None
    split_views: list[dict[str, str]] = field(default_factory=list)

    def pinned(self) -> list[VerifierKey]:
        return [VerifierKey.parse(encoded) for encoded in self.keys]


@dataclass(slots=True)
class WitnessState:
    """The state of one hub, read from ``path``; change it, then :meth:`save`."""

    path: Path
    hub: str
    logs: dict[str, LogView] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, hub: str) -> WitnessState:
        """Read ``path`` (an empty state when it does not exist yet)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path, hub)
        except OSError as exc:
            raise WitnessStateError(f"cannot read the witness state {path}: {exc}") from exc
        try:
            document = json.loads(raw)
            return cls(path, hub, _logs(document, hub))
        except (ValueError, TypeError, KeyError, AttributeError, VerificationError) as exc:
            raise WitnessStateError(
                f"the witness state {path} is damaged ({exc}); move it aside to start afresh "
                "(the checkpoints kept in it are evidence: keep the file)"
            ) from exc

    def save(self) -> None:
        """Replace the file atomically (mode 0600); a crash leaves the old or the new file."""
        document = {
            "version": _VERSION,
            "hub": self.hub,
            "logs": {origin: _view_json(view) for origin, view in self.logs.items()},
        }
        data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(descriptor, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                Path(temporary).replace(self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    Path(temporary).unlink()
                raise
            _fsync_directory(directory)
        except OSError as exc:
            raise WitnessStateError(f"cannot write the witness state {self.path}: {exc}") from exc


def _fsync_directory(directory: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - no directory handles to fsync there
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _logs(document: Any, hub: str) -> dict[str, LogView]:
    if not isinstance(document, dict) or document.get("version") != _VERSION:
        raise ValueError(f"not a version {_VERSION} witness state")
    if document.get("hub") != hub:
        raise ValueError(f"it holds the state of the hub {document.get('hub')!r}, not {hub!r}")
    logs: dict[str, LogView] = {}
    for origin, entry in document["logs"].items():
        view = LogView(
            keys={str(k["verifier_key"]): str(k["pinned_at"]) for k in entry["keys"]},
            split_views=[{str(a): str(b) for a, b in s.items()} for s in entry["split_views"]],
        )
        kept = entry.get("checkpoint")
        if kept is not None:
            view.checkpoint = _kept(origin, view, str(kept["note"]), str(kept["seen_at"]))
        logs[str(origin)] = view
    return logs


def _kept(origin: str, view: LogView, note: str, seen_at: str) -> KeptCheckpoint:
    """Re-verify a kept note: the file holds only what the pinned keys signed."""
    checkpoint = Checkpoint.parse(open_note(note, view.pinned()).text)
    if checkpoint.origin != origin:
        raise ValueError(f"the kept checkpoint is of {checkpoint.origin!r}, not {origin!r}")
    return KeptCheckpoint(note, checkpoint, seen_at)


def _view_json(view: LogView) -> Mapping[str, Any]:
    return {
        "keys": [{"verifier_key": k, "pinned_at": at} for k, at in view.keys.items()],
        "checkpoint": None
        if view.checkpoint is None
        else {"note": view.checkpoint.note, "seen_at": view.checkpoint.seen_at},
        "split_views": view.split_views,
    }


@contextlib.contextmanager
def open_witness(hub_url: str, state_dir: Path | None = None) -> Iterator[WitnessState]:
    """The hub's witness state, held under an exclusive lock (``<file>.lock``) until the block
    ends, so concurrent verifications take turns; the block calls :meth:`WitnessState.save`."""
    path = state_path(hub_url, state_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = path.with_name(path.name + ".lock").open("a+b")
    except OSError as exc:
        raise WitnessStateError(f"cannot open the witness state {path}: {exc}") from exc
    with lock:
        _lock(lock.fileno())
        yield WitnessState.load(path, hub_url.rstrip("/"))


def _lock(descriptor: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - msvcrt locks a byte range instead
        import msvcrt  # noqa: PLC0415 - only on Windows

        msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)
    else:
        import fcntl  # noqa: PLC0415 - POSIX only

        fcntl.flock(descriptor, fcntl.LOCK_EX)
