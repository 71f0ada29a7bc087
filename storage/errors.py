"""Errors raised by the encrypted object store.

Everything ``storage`` raises derives from :class:`StorageError`, so the hub can translate the
whole family at its boundary. Errors from lower layers (``OSError``, minio's ``S3Error``,
urllib3's connection errors, ``cryptography``'s ``InvalidTag``) are re-raised as one of these
with ``from exc``; callers never have to know which backend or library is underneath.

Exception tree::

    StorageError
    ├── IntegrityError          ciphertext, header, commitment or wrapped key failed to
    │                           authenticate: one opaque error for every cause, by design
    ├── KeyRingError            the key ring cannot be used
    │   ├── KeyFileMissing      the key file does not exist
    │   ├── KeyFileInsecure     the key file is open to others, or not what it must be
    │   ├── KeyFileCorrupt      the key file is not a valid key ring
    │   ├── UnknownKeyId        a wrapped key names a KEK the ring does not hold
    │   └── KeyUsageExhausted   a KEK has wrapped as many keys as it safely may
    ├── ObjectNotFound          no object under that key
    ├── ObjectAlreadyExists     a write-once name already holds other bytes
    ├── InvalidObjectKey        the key is not one this store could have issued
    └── StoreUnavailable        the backend cannot serve the request right now
        ├── StoreFull           no space left on the device or quota
        ├── BucketMissing       the configured bucket does not exist (any more)
        └── ObjectLockMissing   a write-once bucket has no object lock (or ignored it)

``IntegrityError`` deliberately carries no detail: telling a caller *which* check failed
(tag, commitment, truncation, associated data, key) helps an attacker more than an operator.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error raised by ``storage``."""


class IntegrityError(StorageError):
    """Stored data failed to authenticate. Raised for every cause alike; no plaintext escapes."""

    def __init__(self) -> None:
        super().__init__("stored object failed authentication")


class KeyRingError(StorageError):
    """The key ring cannot be loaded or used."""


class KeyFileMissing(KeyRingError):
    """The key file does not exist."""


class KeyFileInsecure(KeyRingError):
    """The key file is not a regular file of the hub's user (or root) that only it can read,
    or (where that is required) it is writable."""


class KeyFileCorrupt(KeyRingError):
    """The key file cannot be parsed as a key ring."""


class UnknownKeyId(KeyRingError):
    """A key id that the ring does not hold."""


class KeyUsageExhausted(KeyRingError):
    """A key-encryption key reached its wrap limit; rotate before wrapping more keys."""


class ObjectNotFound(StorageError):
    """No object is stored under the given key."""


class InvalidObjectKey(StorageError):
    """The object key is malformed: never one this store issued (and never a path)."""


class StoreUnavailable(StorageError):
    """The object store cannot serve the request (unreachable, refused, misconfigured)."""


class StoreFull(StoreUnavailable):
    """The object store has no space left."""


class BucketMissing(StoreUnavailable):
    """The configured bucket does not exist."""


class ObjectAlreadyExists(StorageError):
    """A write-once name already holds other bytes; nothing was written."""


class ObjectLockMissing(StoreUnavailable):
    """The bucket is not write-once: it has no object lock, or the server ignored the lock."""
