"""Object stores: opaque bytes under opaque keys, on a local filesystem or in an S3 bucket.

This module is mechanism only. It stores and returns bytes it never interprets (the envelope
layer encrypts before and authenticates after), and knows nothing of HTTP, the database or who
may read what. The hub asks for the :class:`ObjectStore` protocol, never for a backend.

Contract shared by every backend:

- **Keys** are issued by the store: 128 random bits from :mod:`secrets`, as 32 lowercase hex
  characters. They are never derived from user input, so they leak nothing (no v-number, no
  file name) and cannot be guessed. Every method checks a key against ``^[0-9a-f]{32}$`` before
  it is used and raises :class:`~storage.errors.InvalidObjectKey` otherwise, so no key can name a
  path, a prefix or another bucket.
- **put is atomic**: the object appears whole, under its new key, or not at all. A put that fails
  for any reason, including an exception from the caller's chunk iterator, leaves nothing behind.
  An exception raised by that iterator propagates unchanged; only the store's own failures are
  translated into :mod:`storage.errors`.
- **Reads stream** in chunks of at most :data:`READ_CHUNK_SIZE` bytes, so memory does not grow
  with the object, or in pieces of the caller's size with ``read(size)`` (one piece, fewer
  bytes only at the end), which the vault uses to read each envelope segment whole. A reader
  holds a file descriptor or an HTTP connection until it is closed: use it as a context
  manager.
- **Ranges** behave like slicing a file: ``open(key, offset=o, length=n)`` yields the bytes
  ``[o, o + n)`` clipped to the object, and nothing at all from an offset at or past its end.
- **Errors** leave as :mod:`storage.errors`, raised ``from`` the backend's exception:
  a missing object is ``ObjectNotFound``; a full disk or quota is ``StoreFull``; a missing bucket
  is ``BucketMissing``; anything else that stops the backend from answering (unreachable,
  timed out, refused credentials, I/O error) is ``StoreUnavailable``. A missing root directory
  or bucket is never created behind the caller's back: only :meth:`ObjectStore.ensure_ready`
  does that, because silently recreating it would hide data loss.
- **Incomplete writes** (a temp file, an S3 multipart upload) that a crash left behind are
  invisible to :meth:`ObjectStore.iter_objects`; each backend's ``sweep_incomplete`` removes
  those older than an hour.

Both stores are safe to share between threads.

:class:`S3WriteOnce` is not an object store but its opposite: named, small records in a bucket
with S3 object lock, which nobody can delete or rewrite before their retention ends (for the
audit trail's exported checkpoints). See :mod:`storage.objects.worm`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage.errors import ObjectAlreadyExists, ObjectLockMissing
from storage.objects.base import (
    READ_CHUNK_SIZE,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    StreamReader,
)
from storage.objects.filesystem import FilesystemStore
from storage.objects.s3 import MAX_PART_SIZE, MIN_PART_SIZE, S3Store
from storage.objects.worm import S3WriteOnce

__all__ = [
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "READ_CHUNK_SIZE",
    "FilesystemStore",
    "ObjectAlreadyExists",
    "ObjectInfo",
    "ObjectLockMissing",
    "ObjectReader",
    "ObjectStore",
    "S3Store",
    "S3WriteOnce",
    "StreamReader",
]

if TYPE_CHECKING:
    # Never runs: makes mypy prove that both backends and their readers keep the protocols.
    def _conforms(
        filesystem: FilesystemStore, s3: S3Store, reader: StreamReader
    ) -> tuple[ObjectStore, ObjectStore, ObjectReader]:
        return filesystem, s3, reader
