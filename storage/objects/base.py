"""What every object store shares: the protocols, object keys and the streaming reader.

The contract itself is described in :mod:`storage.objects`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Final, Protocol, Self

from storage.errors import (
    InvalidObjectKey,
)

MiB: Final = 1024 * 1024
READ_CHUNK_SIZE: Final = MiB
"""Upper bound of every chunk a reader yields."""

STALE_AFTER: Final = timedelta(hours=1)
"""Default age after which ``sweep_incomplete`` treats an unfinished write as abandoned."""

KEY_PATTERN = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a store knows about one object. ``modified`` is an aware datetime in UTC."""

    key: str
    size: int
    modified: datetime


class ObjectReader(Protocol):
    """A streaming read of one object (or a range of it); iterate for the bytes, then close.

    ``size`` is the size of the whole object, not of the range being read.
    """

    size: int

    def __iter__(self) -> Iterator[bytes]: ...

    def read(self, size: int) -> bytes:
        """The next ``size`` bytes: fewer only at the end of the stream, ``b""`` after it."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ObjectStore(Protocol):
    """Where objects live. See the module docstring for the contract every backend keeps."""

    def put(self, chunks: Iterable[bytes]) -> ObjectInfo:
        """Store the concatenated chunks atomically under a new random key."""
        ...

    def open(self, key: str, *, offset: int = 0, length: int | None = None) -> ObjectReader:
        """Stream ``length`` bytes (default: to the end) from ``offset``. ``ObjectNotFound``."""
        ...

    def stat(self, key: str) -> ObjectInfo:
        """Describe one object. ``ObjectNotFound``."""
        ...

    def delete(self, key: str) -> None:
        """Remove one object. Removing an object that does not exist succeeds."""
        ...

    def iter_objects(self) -> Iterator[ObjectInfo]:
        """Every complete object in the store, in no particular order (for orphan sweeps)."""
        ...

    def check(self) -> None:
        """Readiness probe: return if the store can serve, raise ``StoreUnavailable`` if not."""
        ...

    def ensure_ready(self) -> None:
        """Create the root directory or bucket when it is missing, then :meth:`check`."""
        ...


def new_key() -> str:
    """A fresh object key: 128 bits from the OS's CSPRNG, as 32 lowercase hex characters."""
    return secrets.token_hex(16)


def checked_key(key: str) -> str:
    """Return ``key`` if this store could have issued it, else raise ``InvalidObjectKey``.

    ``fullmatch`` matters: ``re.match`` with ``$`` would accept a trailing newline. The key is
    not echoed in the message, since a caller that passed user input here should not have that
    input written to a log by us.
    """
    if not isinstance(key, str) or KEY_PATTERN.fullmatch(key) is None:
        raise InvalidObjectKey("object keys are 32 lowercase hexadecimal characters")
    return key


def check_range(offset: int, length: int | None) -> None:
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")
    if length is not None and length < 0:
        raise ValueError(f"length must not be negative, got {length}")


def end_of_range(size: int, offset: int, length: int | None) -> int:
    return size if length is None else min(size, offset + length)


class StreamReader:
    """An :class:`ObjectReader` over a chunk generator, or a read function, and the resource
    behind it.

    A backend that can read any number of bytes in one piece passes ``read`` (a function that
    returns the next ``size`` bytes, fewer only at the end); iterating then reads
    :data:`READ_CHUNK_SIZE` at a time. Otherwise it passes ``chunks``, and :meth:`read` joins
    and cuts them, holding back what a read did not take for the next one. A caller that knows
    the sizes it needs (the envelope's segments) reads them exactly, so no segment straddles two
    chunks and has to be copied together.

    ``release`` runs exactly once: when the stream is exhausted, or on ``close()``, which may
    come before iteration even started (a generator that never ran would not run its own
    ``finally``, so the release cannot live there alone).
    """

    __slots__ = ("_chunks", "_pending", "_read", "_release", "size")

    def __init__(
        self,
        *,
        size: int,
        release: Callable[[], None],
        chunks: Iterator[bytes] | None = None,
        read: Callable[[int], bytes] | None = None,
    ) -> None:
        if (chunks is None) == (read is None):
            raise TypeError("a StreamReader reads from chunks or from read, one of them")
        self.size = size
        self._release: Callable[[], None] | None = release
        self._read = read
        self._pending = b""
        self._chunks = self._stream(chunks if chunks is not None else self._pieces())

    def _pieces(self) -> Iterator[bytes]:
        while piece := self.read(READ_CHUNK_SIZE):
            yield piece

    def _stream(self, chunks: Iterator[bytes]) -> Generator[bytes]:
        try:
            yield from chunks
        finally:
            self._release_once()

    def _release_once(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __iter__(self) -> Iterator[bytes]:
        return self._after_pending() if self._pending else self._chunks

    def _after_pending(self) -> Iterator[bytes]:
        pending, self._pending = self._pending, b""
        yield pending
        yield from self._chunks

    def read(self, size: int) -> bytes:
        """The next ``size`` bytes of the stream: fewer only at its end, ``b""`` after it.

        From a backend's ``read``, one piece as the backend returns it; from chunks, a chunk
        as it is when it holds exactly what is asked, otherwise pieces joined (one copy)."""
        if size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        if self._read is not None:
            if self._release is None:  # closed or exhausted
                return b""
            data = self._read(size) if size else b""
            if size and not data:
                self._release_once()
            return data
        return self._take(size)

    def _take(self, size: int) -> bytes:
        pieces: list[bytes] = []
        wanted = size
        pending, self._pending = self._pending, b""
        while wanted:
            if not pending:
                pending = next(self._chunks, b"")
                if not pending:
                    break
            piece, pending = pending[:wanted], pending[wanted:]
            pieces.append(piece)
            wanted -= len(piece)
        self._pending = pending
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def close(self) -> None:
        self._chunks.close()
        self._release_once()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def empty_reader(size: int) -> StreamReader:
    return StreamReader(size=size, chunks=iter(()), release=lambda: None)


# --- filesystem ---------------------------------------------------------------------------------
