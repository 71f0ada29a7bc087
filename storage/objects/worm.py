"""Write-once records in an S3 bucket with object lock: what nobody may delete or rewrite.

The hub's object store (:mod:`storage.objects.s3`) must be able to delete, for crypto-shredding
and retention. Some records must be the opposite: kept unchanged for years even against someone
who holds the bucket's own credentials, such as the audit trail's signed checkpoints. This
module writes such records, under names the caller chooses, into a bucket with S3 object lock:

- **Object lock, checked.** :meth:`S3WriteOnce.ensure_ready` creates the bucket with object
  lock enabled (which also turns versioning on; S3 allows it only at creation), and refuses,
  with :class:`ObjectLockMissing`, a bucket that exists without it: such a bucket cannot be
  made write-once afterwards, and writing into it would quietly give no protection.
- **COMPLIANCE retention per object.** Every object is PUT with ``x-amz-object-lock-mode:
  COMPLIANCE`` and ``x-amz-object-lock-retain-until-date`` = the clock's now + ``retention_days``
  (whole seconds). Until that date no one, the root account included, can delete that version
  or shorten its retention; GOVERNANCE mode would let a privileged user bypass it. After the
  PUT the stored version is read back (HEAD) and must carry that mode and at least that date;
  a server that accepted the PUT but ignored the lock is reported, not trusted.
- **A name is written once.** Object lock protects *versions*: anyone with write access can
  still put a newer version, or a delete marker, over a name. So the first version under a name
  is the record: :meth:`~S3WriteOnce.write` lists the name's versions first and writes only if
  there are none. The same bytes again are a no-op (a retried export), other bytes raise
  :class:`ObjectAlreadyExists`. :meth:`~S3WriteOnce.read` returns the oldest version, so a
  later version or a delete marker changes nothing it returns. Two writers racing on one name
  can both write; the oldest version still wins, and for the same bytes nothing differs.
- **Small records.** Objects are at most :data:`MAX_RECORD_SIZE` bytes, sent as one PUT and
  read whole.
- **Errors** are the ones of :mod:`storage.errors`, translated as :mod:`storage.objects.s3`
  does, plus the two below::

      StorageError
      ├── ObjectAlreadyExists      the name holds other bytes; nothing was written
      └── StoreUnavailable
          └── ObjectLockMissing    the bucket has no object lock, or ignored it

The bucket's name and the prefix are the caller's; record names are checked against
``[A-Za-z0-9][A-Za-z0-9._-]*`` so that none can express a path or another prefix.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from minio.commonconfig import COMPLIANCE
from minio.error import S3Error, ServerError
from minio.helpers import check_bucket_name
from minio.retention import Retention

from storage.errors import (
    BucketMissing,
    ObjectAlreadyExists,
    ObjectLockMissing,
    ObjectNotFound,
    StorageError,
    StoreFull,
    StoreUnavailable,
)
from storage.objects.s3 import _FULL_CODES, _S3_FAILURES, _s3_endpoint, minio_client

MAX_RECORD_SIZE: Final = 1024 * 1024
"""Largest record written or read: these are small texts (a checkpoint is ~300 bytes)."""
MAX_RETENTION_DAYS: Final = 36_500

_SEGMENT: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_LOCK_MISSING: Final = "ObjectLockConfigurationNotFoundError"
_RETAIN_UNTIL: Final = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z")


@dataclass(frozen=True, slots=True)
class _Version:
    version_id: str | None
    size: int


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _checked_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if prefix and not all(_SEGMENT.fullmatch(part) for part in prefix.split("/")):
        raise ValueError(
            "prefix must be segments of letters, digits, '.', '_' or '-' separated by '/'"
        )
    return prefix


class S3WriteOnce:
    """Records that cannot be deleted or rewritten before their retention ends.

    One bucket, optionally under ``prefix``; see the module docstring for the guarantees.
    Nothing connects until a method is called. ``clock`` returns an aware datetime; the
    retention of a write runs ``retention_days`` from it. Safe to share between threads.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        region: str | None = None,
        prefix: str = "",
        retention_days: int,
        clock: Callable[[], datetime] = _utc_now,
        timeout: float = 30.0,
        connect_timeout: float = 3.0,
        ca_certs: str | None = None,
    ) -> None:
        netloc, secure = _s3_endpoint(endpoint)
        check_bucket_name(bucket)
        if not 1 <= retention_days <= MAX_RETENTION_DAYS:
            raise ValueError(f"retention_days must be between 1 and {MAX_RETENTION_DAYS}")
        self._endpoint = f"{'https' if secure else 'http'}://{netloc}"
        self._bucket = bucket
        self._prefix = _checked_prefix(prefix)
        self._retention = timedelta(days=retention_days)
        self._clock = clock
        self._client = minio_client(
            netloc,
            secure=secure,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            timeout=timeout,
            connect_timeout=connect_timeout,
            ca_certs=ca_certs,
            pool_size=4,
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def retention_days(self) -> int:
        return self._retention.days

    def __repr__(self) -> str:
        # Never the keys: this may end up in a log line.
        return (
            f"S3WriteOnce(endpoint={self._endpoint!r}, bucket={self._bucket!r}, "
            f"prefix={self._prefix!r}, retention_days={self.retention_days})"
        )

    def object_name(self, name: str) -> str:
        """The S3 key of record ``name``: ``<prefix>/<name>``, or ``name`` without a prefix."""
        if not isinstance(name, str) or _SEGMENT.fullmatch(name) is None:
            raise ValueError("record names are letters, digits, '.', '_' or '-', at most 200")
        return f"{self._prefix}/{name}" if self._prefix else name

    # -- the bucket ------------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Create the bucket with object lock if it is missing; refuse one without it.

        Raises :class:`ObjectLockMissing` for a bucket without object lock (or a server that
        does not support it), and the usual ``StoreUnavailable`` family otherwise.
        """
        try:
            if not self._client.bucket_exists(self._bucket):
                self._client.make_bucket(self._bucket, object_lock=True)
        except S3Error as exc:
            # Another replica created it between our check and our create: that is success,
            # if it did so with object lock, which check() finds out.
            if exc.code != "BucketAlreadyOwnedByYou":
                raise self._failure(exc, "creating the bucket") from exc
        except _S3_FAILURES as exc:
            raise self._failure(exc, "creating the bucket") from exc
        self.check()

    def check(self) -> None:
        """Return if the bucket exists with object lock enabled; raise otherwise."""
        try:
            self._client.get_object_lock_config(self._bucket)
        except S3Error as exc:
            if exc.code == _LOCK_MISSING:
                raise ObjectLockMissing(
                    f"bucket {self._bucket!r} at {self._endpoint} has no object lock, so records "
                    "in it could be deleted or overwritten; object lock can only be enabled when "
                    "a bucket is created: use a new bucket (the hub creates it with object lock)"
                ) from exc
            raise self._failure(exc, "checking object lock") from exc
        except _S3_FAILURES as exc:
            raise self._failure(exc, "checking object lock") from exc

    # -- records ---------------------------------------------------------------------------

    def write(self, name: str, data: bytes) -> None:
        """Store ``data`` as record ``name``, retained in COMPLIANCE mode; never overwrite.

        A record that already holds the same bytes is left as it is; one holding other bytes
        raises :class:`ObjectAlreadyExists`. A missing bucket is ``BucketMissing``: it is
        created only by :meth:`ensure_ready`.
        """
        key = self.object_name(name)
        if len(data) > MAX_RECORD_SIZE:
            raise ValueError(f"records are at most {MAX_RECORD_SIZE} bytes")
        first = self._first_version(key)
        if first is not None:
            if self._read_version(key, first) != data:
                raise ObjectAlreadyExists(
                    f"record {key!r} in bucket {self._bucket!r} already holds other bytes; "
                    "write-once records are never overwritten"
                )
            return
        until = (self._clock() + self._retention).astimezone(UTC).replace(microsecond=0)
        try:
            result = self._client.put_object(
                self._bucket,
                key,
                io.BytesIO(data),
                len(data),
                content_type="application/octet-stream",
                retention=Retention(COMPLIANCE, until),
            )
        except S3Error as exc:
            if exc.code == "InvalidRequest":
                # What S3 answers to a retention on a bucket without object lock; say so
                # clearly if that is the cause (check raises ObjectLockMissing).
                self.check()
            raise self._failure(exc, "write") from exc
        except _S3_FAILURES as exc:
            raise self._failure(exc, "write") from exc
        self._check_retained(key, result.version_id, until)

    def read(self, name: str) -> bytes:
        """The bytes of record ``name``: its first version, whatever was put over it later."""
        key = self.object_name(name)
        first = self._first_version(key)
        if first is None:
            raise ObjectNotFound(f"no record {key!r} in bucket {self._bucket!r}")
        return self._read_version(key, first)

    def _first_version(self, key: str) -> _Version | None:
        """The oldest version stored under ``key`` (delete markers aside), or ``None``.

        S3 lists a key's versions newest first; minio yields the versions before the delete
        markers, keeping that order, so the oldest is the last one listed.
        """
        oldest: _Version | None = None
        try:
            for obj in self._client.list_objects(
                self._bucket, prefix=key, include_version=True, recursive=True
            ):
                if obj.object_name == key and not obj.is_delete_marker:
                    oldest = _Version(obj.version_id, obj.size or 0)
        except _S3_FAILURES as exc:
            raise self._failure(exc, "listing versions") from exc
        return oldest

    def _read_version(self, key: str, version: _Version) -> bytes:
        if version.size > MAX_RECORD_SIZE:
            raise StoreUnavailable(f"record {key!r} is larger than a write-once record can be")
        try:
            response = self._client.get_object(self._bucket, key, version_id=version.version_id)
        except _S3_FAILURES as exc:
            raise self._failure(exc, "read") from exc
        try:
            data = response.read(MAX_RECORD_SIZE + 1, decode_content=False)
        except _S3_FAILURES as exc:
            raise self._failure(exc, "read") from exc
        finally:
            response.close()
            response.release_conn()
        if len(data) != version.size:
            raise StoreUnavailable(f"S3 read of record {key!r} returned a different size")
        return data

    def _check_retained(self, key: str, version_id: str | None, until: datetime) -> None:
        """Make sure the stored version carries the lock we asked for (read back by HEAD).

        HEAD rather than GetObjectRetention: minio cannot parse Ceph RGW's nine-digit
        fractions of a second there, while the headers carry the same two values.
        """
        try:
            stat = self._client.stat_object(self._bucket, key, version_id=version_id)
        except _S3_FAILURES as exc:
            raise self._failure(exc, "checking the retention") from exc
        headers = stat.metadata or {}
        mode = headers.get("x-amz-object-lock-mode", "")
        match = _RETAIN_UNTIL.fullmatch(headers.get("x-amz-object-lock-retain-until-date", ""))
        kept = (
            datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
            if match is not None
            else None
        )
        if mode != COMPLIANCE or kept is None or kept < until:
            raise ObjectLockMissing(
                f"bucket {self._bucket!r} at {self._endpoint} stored record {key!r} without "
                f"the COMPLIANCE retention until {until.isoformat()} (mode {mode or 'none'}, "
                f"until {kept.isoformat() if kept else 'none'}): the server ignores object lock"
            )

    def _failure(self, exc: BaseException, what: str) -> StorageError:
        """Translate a minio/urllib3 failure as :class:`~storage.objects.S3Store` does."""
        if isinstance(exc, S3Error):
            code = exc.code or ""
            if code == "NoSuchBucket":
                return BucketMissing(f"bucket {self._bucket!r} does not exist at {self._endpoint}")
            if code in _FULL_CODES or exc.response.status == 507:
                return StoreFull(f"S3 store is full: {what}: {code}")
            return StoreUnavailable(f"S3 {what} failed at {self._endpoint}: {code}")
        if isinstance(exc, ServerError):
            if exc.status_code == 507:
                return StoreFull(f"S3 store is full: {what}: HTTP 507")
            return StoreUnavailable(f"S3 {what} failed at {self._endpoint}: {exc}")
        return StoreUnavailable(
            f"S3 {what} failed at {self._endpoint}: {type(exc).__name__}: {exc}"
        )
