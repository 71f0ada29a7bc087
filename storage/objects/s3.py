"""The S3 object store, through the minio SDK: any S3-compatible server."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final, cast
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

import urllib3
from minio import Minio
from minio.datatypes import Part as MinioPart
from minio.error import MinioException, S3Error, ServerError
from minio.helpers import DictType, check_bucket_name
from urllib3.exceptions import HTTPError

from storage.errors import (
    BucketMissing,
    ObjectNotFound,
    StorageError,
    StoreFull,
    StoreUnavailable,
)
from storage.objects.base import (
    KEY_PATTERN,
    READ_CHUNK_SIZE,
    STALE_AFTER,
    MiB,
    ObjectInfo,
    ObjectReader,
    StreamReader,
    check_range,
    checked_key,
    empty_reader,
    end_of_range,
    new_key,
)
from storage.objects.pipeline import OneInFlight, Part, PartSource

MIN_PART_SIZE: Final = 5 * MiB
"""S3's smallest multipart part (except the last)."""
MAX_PART_SIZE: Final = 5 * 1024 * MiB

# Error codes that mean "no room", as sent by AWS, Ceph RGW (QuotaExceeded, EntityTooLarge),
# SeaweedFS (InsufficientStorage) and MinIO (XMinio*). HTTP 507 means the same from any server.
_FULL_CODES: Final = frozenset(
    {
        "EntityTooLarge",
        "QuotaExceeded",
        "InsufficientStorage",
        "XMinioStorageFull",
        "XMinioAdminBucketQuotaExceeded",
    }
)
_S3_FAILURES: Final = (MinioException, HTTPError, OSError, ParseError)


class _MultipartUpload:
    """One multipart upload of a put, part by part; :meth:`send` runs on the put's thread.

    minio-py has no public calls for a multipart upload driven by the caller, so this uses the
    ones its own ``put_object`` is built from (``_create_multipart_upload``, ``_upload_part``,
    ``_complete_multipart_upload``, ``_abort_multipart_upload``). The storage tests run every
    path against both S3 servers, so a change in minio shows up there.
    """

    __slots__ = ("_bucket", "_client", "_key", "_parts", "upload_id")

    def __init__(self, client: Minio, bucket: str, key: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._parts: list[MinioPart] = []
        self.upload_id: str | None = None

    def put_whole(self, data: memoryview) -> ObjectInfo:
        """The object fits in one part: a single PUT, no multipart upload. What the store
        answered is what it kept: no HEAD to ask again (see :meth:`S3Store.put`)."""
        # minio hands the body to hashlib (SigV4 payload hash) and urllib3 (sendall); both take
        # any buffer, so a view of the part buffer goes out without a copy.
        body = cast(bytes, data) if data else b""
        result = self._client._put_object(self._bucket, self._key, body, _content_type())
        headers = result.http_headers
        stamp = headers.get("Last-Modified") or headers.get("Date")
        try:
            modified = parsedate_to_datetime(stamp) if stamp else None
        except (TypeError, ValueError):
            modified = None
        return _s3_info(self._key, len(body), modified)

    def send(self, part: Part) -> None:
        if self.upload_id is None:
            self.upload_id = self._client._create_multipart_upload(
                self._bucket, self._key, _content_type()
            )
        etag = self._client._upload_part(
            self._bucket, self._key, cast(bytes, part.data), None, self.upload_id, part.number
        )
        self._parts.append(MinioPart(part.number, etag))

    def complete(self) -> None:
        if self.upload_id is not None:
            self._client._complete_multipart_upload(
                self._bucket, self._key, self.upload_id, self._parts
            )

    def abort(self) -> None:
        """Best effort; see :meth:`S3Store._discard` for what catches a failed abort."""
        if self.upload_id is not None:
            with suppress(*_S3_FAILURES):
                self._client._abort_multipart_upload(self._bucket, self._key, self.upload_id)


def _content_type() -> DictType:
    # A fresh dict per request: minio adds the request's own headers to the one it is given.
    return {"Content-Type": "application/octet-stream"}


def _s3_endpoint(endpoint: str) -> tuple[str, bool]:
    """Split ``http(s)://host[:port]`` into minio's ``host[:port]`` and whether to use TLS."""
    parts = urlsplit(endpoint)
    if parts.scheme not in {"http", "https"}:
        raise ValueError("S3 endpoint must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("S3 endpoint has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("S3 endpoint must not carry credentials; pass access_key/secret_key")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError("S3 endpoint must be scheme://host[:port], without a path or query")
    _ = parts.port  # raises ValueError on a malformed port
    return parts.netloc, parts.scheme == "https"


def minio_client(
    netloc: str,
    *,
    secure: bool,
    access_key: str,
    secret_key: str,
    region: str | None,
    timeout: float,
    connect_timeout: float,
    ca_certs: str | None,
    pool_size: int,
) -> Minio:
    """A minio client with bounded network behaviour: a short connect timeout, few retries, no
    redirects and no Retry-After stalls, and TLS verified against the system's CAs or
    ``ca_certs``. Shared by every S3 client in ``storage``."""
    if timeout <= 0 or connect_timeout <= 0:
        raise ValueError("timeouts must be positive")
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=timeout),
        retries=urllib3.Retry(
            total=2,
            connect=1,
            read=1,
            status=1,
            other=0,
            redirect=False,
            backoff_factor=0.2,
            backoff_max=2.0,
            status_forcelist=(500, 502, 503, 504),
            raise_on_status=False,  # let minio parse the final error body into S3Error
            respect_retry_after_header=False,
        ),
        maxsize=pool_size,
        cert_reqs="CERT_REQUIRED",
        ca_certs=ca_certs,
    )
    return Minio(
        netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=secure,
        region=region,
        http_client=http,
    )


class S3Store:
    """Objects in one S3 bucket, through the ``minio`` SDK; one object per key, at the root.

    Uploads stream through a bounded pipeline (see :mod:`storage.objects.pipeline`). The chunks
    are copied into part buffers of exactly ``part_size`` bytes (8 MiB by default); an object
    that fits in one part goes up as a single PUT, anything larger as a multipart upload, whose
    parts go up on one helper thread while the caller's iterator (which does the encryption)
    fills the next part. At most one part is in flight and one being filled, so memory per put
    is two parts whatever the object size, and the cipher work overlaps the upload instead of
    adding to it. Parts are not uploaded in parallel with each other: the hub gets that
    parallelism from concurrent requests, and more parts in flight per upload would multiply
    memory by the number of uploads. The helper thread is started only for a multipart upload
    and joined before ``put`` returns or raises, whatever happened. S3 allows 10,000 parts, so
    with 8 MiB parts an object can be 78 GiB; pass a larger ``part_size`` for more.

    A failed upload leaves nothing: whatever fails (the caller's iterator, a part upload, the
    completion, the size check, or a ``BaseException`` such as KeyboardInterrupt), :meth:`put`
    waits for the part in flight, aborts the multipart upload, then also aborts any upload still
    open under the key and removes the key. That covers an abort that itself failed, a
    CreateMultipartUpload whose answer was lost, and a CompleteMultipartUpload that succeeded on
    the server but whose answer was lost. What an outage still prevents from being cleaned up,
    :meth:`sweep_incomplete` finds later.

    Reads stream on the caller's thread. The server keeps sending while the consumer decrypts,
    into the TCP receive buffer (which Linux grows to several MiB), so the network already
    overlaps the decryption; a read-ahead thread was measured to add CPU and GIL hand-offs
    without making reads faster.

    The network is bounded: connections time out after ``connect_timeout`` seconds, a silent
    server after ``timeout`` seconds per read, and urllib3 retries at most twice (connection
    failures, and 5xx answers to idempotent requests) with short backoff, never following
    redirects and never honouring a server's Retry-After (which could stall a request for
    hours). An unreachable server therefore fails within a few seconds.

    The ETag the server returns is never relied on: Ceph RGW 16.2 returns an empty one for
    CompleteMultipartUpload. ``put`` instead compares the stored size with the bytes sent.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        region: str | None = None,
        part_size: int = 8 * MiB,
        timeout: float = 30.0,
        connect_timeout: float = 3.0,
        ca_certs: str | None = None,
    ) -> None:
        """Configure the store; nothing connects until a method is called.

        ``endpoint`` is ``http://host:port`` or ``https://host:port``; its scheme decides TLS,
        which verifies the server against the system's CAs or ``ca_certs`` (a PEM file).
        ``region`` defaults to asking the server (GetBucketLocation, once per bucket).
        """
        netloc, secure = _s3_endpoint(endpoint)
        check_bucket_name(bucket)
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE}")
        self._endpoint = f"{'https' if secure else 'http'}://{netloc}"
        self._bucket = bucket
        self._part_size = part_size
        self._client = minio_client(
            netloc,
            secure=secure,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            timeout=timeout,
            connect_timeout=connect_timeout,
            ca_certs=ca_certs,
            pool_size=10,
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    def __repr__(self) -> str:
        # Never the keys: this may end up in a log line.
        return f"S3Store(endpoint={self._endpoint!r}, bucket={self._bucket!r})"

    def _failure(self, exc: BaseException, what: str) -> StorageError:
        """Translate a minio/urllib3 failure into the store's errors (never ObjectNotFound)."""
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

    def _missing_object(self, key: str) -> StorageError:
        """A 404 for ``key``: an object missing, or its whole bucket (HEAD answers carry no
        error code, so minio calls both NoSuchKey)."""
        try:
            exists = self._client.bucket_exists(self._bucket)
        except _S3_FAILURES as probe_exc:
            return self._failure(probe_exc, "checking the bucket")
        if not exists:
            return BucketMissing(f"bucket {self._bucket!r} does not exist at {self._endpoint}")
        return ObjectNotFound(f"no object {key}")

    def put(self, chunks: Iterable[bytes]) -> ObjectInfo:
        key = new_key()
        parts = PartSource(chunks, self._part_size)
        upload = _MultipartUpload(self._client, self._bucket, key)
        try:
            whole: ObjectInfo | None = None
            with OneInFlight("ketenhub-s3-put") as worker:
                for part in parts:
                    if part.number == 1 and part.last:
                        whole = upload.put_whole(part.data)
                    else:
                        worker.submit(functools.partial(upload.send, part))
            upload.complete()
            # A single PUT carries its payload's SHA-256 (SigV4 over http) or its Content-MD5
            # (over https), which the server checks before it answers 200: it kept exactly those
            # bytes, and a HEAD would only say so again, a round trip per small upload. A
            # multipart upload is still checked by a HEAD.
            info = whole if whole is not None else self._stored(key, parts.total)
        except BaseException as exc:
            # The upload thread has been joined by now: nothing can add a part after the abort.
            upload.abort()
            self._discard(key)
            # The caller's own error wins, even when an upload or the abort failed after it.
            if parts.failure is not None and parts.failure is not exc:
                raise parts.failure  # noqa: B904 - chained to exc implicitly, on purpose
            if parts.failure is None and isinstance(exc, _S3_FAILURES):
                raise self._failure(exc, "upload") from exc
            raise
        return info

    def _stored(self, key: str, sent: int) -> ObjectInfo:
        """Stat a fresh upload and make sure the server kept every byte that was sent."""
        try:
            info = self._stat(key)
        except ObjectNotFound as exc:  # a put must not answer "not found"
            raise StoreUnavailable("S3 store lost an object right after storing it") from exc
        if info.size != sent:
            raise StoreUnavailable(f"S3 store kept {info.size} of the {sent} bytes sent")
        return info

    def _discard(self, key: str) -> None:
        """Best effort: leave no upload and no object under ``key`` after a failed put.

        Errors are swallowed: the put's own failure is what the caller must see, and anything
        an outage leaves behind is found by :meth:`sweep_incomplete`.
        """
        with suppress(*_S3_FAILURES):
            for upload in self._uploads(prefix=key):
                if upload.object_name == key and upload.upload_id:
                    self._client._abort_multipart_upload(self._bucket, key, upload.upload_id)
        with suppress(*_S3_FAILURES):
            self._client.remove_object(self._bucket, key)

    def _uploads(self, *, prefix: str = "") -> Iterator[_Upload]:
        """Open multipart uploads in the bucket, following pagination.

        minio-py has no public call for ListMultipartUploads (``list_incomplete_uploads`` was
        dropped in 7.0), so this uses its ``_list_multipart_uploads``; the storage tests exercise
        it against both S3 servers, so a change in minio shows up there.
        """
        key_marker: str | None = None
        upload_id_marker: str | None = None
        while True:
            result = self._client._list_multipart_uploads(
                self._bucket,
                prefix=prefix,
                key_marker=key_marker,
                upload_id_marker=upload_id_marker,
            )
            for upload in result.uploads:
                yield _Upload(
                    object_name=upload.object_name,
                    upload_id=upload.upload_id,
                    initiated=upload.initiated_time,
                )
            if not result.is_truncated or not result.uploads:
                return
            key_marker = result.uploads[-1].object_name
            upload_id_marker = result.uploads[-1].upload_id

    def sweep_incomplete(
        self, *, older_than: timedelta = STALE_AFTER, now: datetime | None = None
    ) -> int:
        """Abort multipart uploads of this store's keys started more than ``older_than`` ago.

        They are what a put leaves when the process dies mid-upload, or when the abort after a
        failure could not reach the server. Their parts use space but are not objects. Returns
        how many were aborted. (A bucket lifecycle rule ``AbortIncompleteMultipartUpload`` does
        the same server-side where the server supports it.)
        """
        cutoff = (now or datetime.now(UTC)) - older_than
        aborted = 0
        try:
            for upload in list(self._uploads()):
                if (
                    KEY_PATTERN.fullmatch(upload.object_name)
                    and upload.upload_id
                    and upload.initiated is not None
                    and upload.initiated < cutoff
                ):
                    self._client._abort_multipart_upload(
                        self._bucket, upload.object_name, upload.upload_id
                    )
                    aborted += 1
        except _S3_FAILURES as exc:
            raise self._failure(exc, "sweeping incomplete uploads") from exc
        return aborted

    def open(self, key: str, *, offset: int = 0, length: int | None = None) -> ObjectReader:
        key = checked_key(key)
        check_range(offset, length)
        if length == 0:
            return empty_reader(self._stat(key).size)
        try:
            # minio sends no Range header for offset 0 and length 0 (= "to the end").
            response = self._client.get_object(self._bucket, key, offset=offset, length=length or 0)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise self._missing_object(key) from exc
            if exc.code == "InvalidRange":  # offset at or past the end: nothing to read
                return empty_reader(self._stat(key).size)
            raise self._failure(exc, "download") from exc
        except _S3_FAILURES as exc:
            raise self._failure(exc, "download") from exc

        def release() -> None:
            response.close()
            response.release_conn()

        try:
            size, skip = self._size_and_skip(response, offset)
        except BaseException:
            release()
            raise
        end = end_of_range(size, offset, length)
        body = _Body(response, skip=skip, left=max(0, end - offset), failure=self._failure)
        return StreamReader(size=size, read=body.read, release=release)

    @staticmethod
    def _size_and_skip(response: urllib3.BaseHTTPResponse, offset: int) -> tuple[int, int]:
        """The object's total size, and how many leading body bytes lie before ``offset``.

        A 206 answer starts at ``offset``; a 200 is the whole object, either because no range
        was asked for or because the server ignored it (HTTP allows that).
        """
        if response.status == 206:
            match = re.fullmatch(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
            if match is None:
                raise StoreUnavailable("S3 download: unusable Content-Range in a 206 answer")
            return int(match[1]), 0
        length = response.headers.get("Content-Length", "")
        if not length.isdigit():
            raise StoreUnavailable("S3 download: answer without a Content-Length")
        return int(length), offset

    def _stat(self, key: str) -> ObjectInfo:
        try:
            result = self._client.stat_object(self._bucket, key)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise self._missing_object(key) from exc
            raise self._failure(exc, "stat") from exc
        except _S3_FAILURES as exc:
            raise self._failure(exc, "stat") from exc
        return _s3_info(key, result.size, result.last_modified)

    def stat(self, key: str) -> ObjectInfo:
        return self._stat(checked_key(key))

    def delete(self, key: str) -> None:
        key = checked_key(key)
        try:
            # S3 answers 204 for a key that does not exist: delete is idempotent by itself.
            self._client.remove_object(self._bucket, key)
        except _S3_FAILURES as exc:
            raise self._failure(exc, "delete") from exc

    def iter_objects(self) -> Iterator[ObjectInfo]:
        try:
            for obj in self._client.list_objects(self._bucket, recursive=True):
                name = obj.object_name
                # Anything not shaped like our keys was not put here by a store; leave it be.
                if name is not None and KEY_PATTERN.fullmatch(name):
                    yield _s3_info(name, obj.size, obj.last_modified)
        except _S3_FAILURES as exc:
            raise self._failure(exc, "listing objects") from exc

    def check(self) -> None:
        try:
            exists = self._client.bucket_exists(self._bucket)
        except _S3_FAILURES as exc:
            raise self._failure(exc, "readiness check") from exc
        if not exists:
            raise BucketMissing(f"bucket {self._bucket!r} does not exist at {self._endpoint}")

    def ensure_ready(self) -> None:
        try:
            if not self._client.bucket_exists(self._bucket):
                self._client.make_bucket(self._bucket)
        except S3Error as exc:
            # Another replica created it between our check and our create: that is success.
            if exc.code != "BucketAlreadyOwnedByYou":
                raise self._failure(exc, "creating the bucket") from exc
        except _S3_FAILURES as exc:
            raise self._failure(exc, "creating the bucket") from exc
        self.check()


class _Body:
    """The body of one GET, read in pieces of the caller's size: ``skip`` leading bytes dropped
    (a server that ignored the range), then at most ``left`` bytes.

    Each :meth:`read` is one ``read(size)`` of urllib3's response, which fills the piece
    straight from the socket (http.client's buffered reader): one copy out of the kernel, and
    no cutting or joining, whatever size the caller asks for.
    """

    __slots__ = ("_failure", "_left", "_response", "_skip")

    def __init__(
        self,
        response: urllib3.BaseHTTPResponse,
        *,
        skip: int,
        left: int,
        failure: Callable[[BaseException, str], StorageError],
    ) -> None:
        self._response = response
        self._skip = skip
        self._left = left
        self._failure = failure

    def read(self, size: int) -> bytes:
        size = min(size, self._left)
        if size <= 0:
            return b""
        # decode_content=False: the bytes are opaque; never let a Content-Encoding header
        # make urllib3 "decompress" them.
        try:
            while self._skip:
                dropped = self._response.read(
                    min(self._skip, READ_CHUNK_SIZE), decode_content=False
                )
                if not dropped:
                    break
                self._skip -= len(dropped)
            data = self._response.read(size, decode_content=False)
        except _S3_FAILURES as exc:
            raise self._failure(exc, "download") from exc
        if len(data) != size:
            raise StoreUnavailable("S3 download ended before the range did")
        self._left -= size
        return data


@dataclass(frozen=True, slots=True)
class _Upload:
    object_name: str
    upload_id: str | None
    initiated: datetime | None


def _s3_info(key: str, size: int | None, modified: datetime | None) -> ObjectInfo:
    if size is None or modified is None:
        raise StoreUnavailable("S3 store answered without the size or date of an object")
    # Whole seconds: HEAD's Last-Modified has no more, listings have milliseconds. Truncating
    # both makes stat() and iter_objects() agree on the same object.
    return ObjectInfo(key=key, size=size, modified=modified.astimezone(UTC).replace(microsecond=0))
