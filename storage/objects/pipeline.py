"""Bounded pipelining of a put: the store's I/O overlaps the work of the caller's iterator.

Why. A put has two halves: the caller's chunk iterator, which for a document does all the cipher
work (about 1.4 ms of CPU per MiB: SHA-256 of the plaintext and AES-GCM), and the store's I/O
(writing a file and its writeback to disk, or an HTTP upload). Run strictly in turn, a put takes
the sum of the two; side by side, about the longer of them. System calls, hashlib on large
buffers and OpenSSL's AES-GCM (through ``cryptography``) all release the GIL, so the two halves
do run at once.

How. A put gets at most one helper thread, and that thread never outlives it:

- :class:`PartSource` cuts the caller's chunks into parts of exactly ``part_size`` bytes (only
  the last may be shorter), copied into two buffers used in turn, and knows which part is the
  last one.
- :class:`OneInFlight` runs one job at a time on its thread: a part is written or uploaded there
  while the caller's iterator fills the other buffer. It waits for that job before it starts the
  next, so memory stays at two parts whatever the object size, and a failed job is raised at
  the next hand-over at the latest. Leaving its ``with`` block joins the thread on every path.

An exception from the caller's own iterator passes through unchanged (:attr:`PartSource.failure`
tells the stores which exception was the caller's); an exception in the helper thread reaches
the caller's thread as the same exception object.

Reads are not pipelined this way: the kernel already reads ahead (file readahead, the TCP
receive buffer), and a Python read-ahead thread was measured to add CPU and GIL hand-offs
without making an encrypted read faster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Self

__all__ = ["OneInFlight", "Part", "PartSource"]


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a put. ``data`` stays intact until the part after the next one is requested."""

    number: int  # from 1, as S3 numbers parts
    data: memoryview
    last: bool


class PartSource:
    """The caller's chunks, cut into parts of exactly ``part_size`` bytes for a pipelined put.

    Iterate it once. Parts are copied into two buffers used in turn, so a part handed to a
    :class:`OneInFlight` job stays intact while the next one is filled; the caller may reuse its
    own chunk buffers as soon as it is asked for the next chunk, as with a store that wrote each
    chunk before asking for the next. A part is known to be the last one only once the chunk
    after it turned out not to exist, so ``last`` is exact and no part is ever empty, except the
    only part of an empty object.

    The buffers grow as data arrives (to at most ``part_size``) instead of being allocated
    zero-filled at full size: a small object touches only the memory it needs. A buffer grows only
    while it is filled for the first time, before any view of it exists, because a full part is
    never the last one and every later fill of that buffer stays within its length.

    An exception from the caller's iterator propagates unchanged and is kept in :attr:`failure`.
    """

    __slots__ = ("_buffers", "_chunks", "_exhausted", "_part_size", "_pending", "failure", "total")

    def __init__(self, chunks: Iterable[bytes | bytearray | memoryview], part_size: int) -> None:
        if part_size < 1:
            raise ValueError("part_size must be positive")
        self._chunks = iter(chunks)
        self._part_size = part_size
        self._pending = memoryview(b"")
        self._buffers = (bytearray(), bytearray())
        self._exhausted = False
        self.failure: BaseException | None = None
        self.total = 0
        """Bytes taken from the caller so far, counted as parts are handed out."""

    def __iter__(self) -> Iterator[Part]:
        number = 0
        while True:
            buffer = self._buffers[number % 2]
            filled = self._fill(buffer)
            number += 1
            self.total += filled
            yield Part(number, memoryview(buffer)[:filled], last=self._exhausted)
            if self._exhausted:
                return

    def _fill(self, buffer: bytearray) -> int:
        filled = 0
        while not self._exhausted:
            if not self._pending:
                self._pending = self._next_chunk()
            elif filled == self._part_size:  # full, and at least one more byte follows
                break
            else:
                take = min(self._part_size - filled, len(self._pending))
                # Overwrites in place, or appends while the buffer is still growing (see above).
                buffer[filled : filled + take] = self._pending[:take]
                filled += take
                self._pending = self._pending[take:]
        return filled

    def _next_chunk(self) -> memoryview:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._exhausted = True
            return memoryview(b"")
        except BaseException as exc:
            self.failure = exc
            raise
        return memoryview(chunk).cast("B")  # len() in bytes, whatever the item format


class OneInFlight:
    """A helper thread that runs one job at a time while its owner prepares the next one.

    :meth:`submit` first waits for the previous job and re-raises its exception, so at most one
    job runs at any moment and no failure goes unnoticed for longer than one hand-over. Use it as
    a context manager: a normal exit waits for the last job (raising its exception), any exit
    joins the thread. On an exit by exception a job still running is waited for (the store's own
    timeouts bound it) and its failure, if any, is dropped: the first failure is the one to
    report. The thread is started by the first :meth:`submit`, so a small object that never
    submits anything never starts one.
    """

    __slots__ = ("_executor", "_pending")

    def __init__(self, thread_name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._pending: Future[None] | None = None

    def submit(self, job: Callable[[], None]) -> None:
        self.wait()
        self._pending = self._executor.submit(job)

    def wait(self) -> None:
        """Wait for the job in flight, if any; raise what it raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            self._executor.shutdown(wait=True)
