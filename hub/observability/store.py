"""Counting object store failures where they happen: a wrapper around the documents' store.

The hub catches storage errors in several places (an upload that cannot be written answers
503, a download whose object is gone is recorded as an ``error`` event, a shredded document's
object that cannot be deleted is left to the orphan sweep). Counting at each of them would
miss the next one added; counting at the store itself sees them all. :class:`ObservedStore`
wraps the store the vault writes and reads documents through, and counts every
:class:`~storage.errors.StorageError` it raises, streamed reads included, by operation and kind
(``ketenhub_object_store_errors_total``), then raises it unchanged.

Authentication failures of the content itself (``IntegrityError``) are raised by the
decryption above the store, not by it; they show as ``document.download`` events with outcome
``error`` (``ketenhub_audit_appends_total``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from storage.errors import StorageError
from storage.objects import ObjectInfo, ObjectReader, ObjectStore, StreamReader

T = TypeVar("T")
Observe = Callable[[str, StorageError], None]


class ObservedStore:
    """An :class:`~storage.objects.ObjectStore` that reports each failure of ``store``."""

    def __init__(self, store: ObjectStore, observe: Observe) -> None:
        self._store = store
        self._observe = observe

    def _run(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except StorageError as exc:
            self._observe(operation, exc)
            raise

    def put(self, chunks: Iterable[bytes]) -> ObjectInfo:
        return self._run("put", lambda: self._store.put(chunks))

    def open(self, key: str, *, offset: int = 0, length: int | None = None) -> ObjectReader:
        reader = self._run("open", lambda: self._store.open(key, offset=offset, length=length))
        return _observed(reader, self._observe)

    def stat(self, key: str) -> ObjectInfo:
        return self._run("stat", lambda: self._store.stat(key))

    def delete(self, key: str) -> None:
        self._run("delete", lambda: self._store.delete(key))

    def iter_objects(self) -> Iterator[ObjectInfo]:
        return self._run("list", self._store.iter_objects)

    def check(self) -> None:
        self._run("check", self._store.check)

    def ensure_ready(self) -> None:
        self._run("check", self._store.ensure_ready)


def _observed(reader: ObjectReader, observe: Observe) -> ObjectReader:
    """``reader``, with failures while streaming reported as ``read``; pieces read as the
    caller sizes them (see :meth:`storage.objects.StreamReader.read`)."""

    def read(size: int) -> bytes:
        try:
            return reader.read(size)
        except StorageError as exc:
            observe("read", exc)
            raise

    return StreamReader(size=reader.size, read=read, release=reader.close)
