"""Behaviour of the object stores, on every backend: the filesystem, SeaweedFS and Ceph RGW.

The generic tests take ``object_store`` or ``backend`` and so run three times. Tests of
behaviour only one kind of backend has (multipart uploads, credentials, a full disk, file
modes) take ``s3_server`` or use the filesystem store directly. Nothing is mocked: the S3 tests
need ``scripts/s3-test-servers up`` and fail, with that hint, when the servers are not running.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import re
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from urllib3.exceptions import ProtocolError

from hub.documents.responses import READER_THREAD_NAME
from storage.errors import (
    BucketMissing,
    InvalidObjectKey,
    ObjectNotFound,
    StoreFull,
    StoreUnavailable,
)
from storage.objects import MIN_PART_SIZE, READ_CHUNK_SIZE, FilesystemStore, S3Store, StreamReader
from tests.fixtures.stores import (
    KEY,
    S3_TEST_ACCESS_KEY,
    Backend,
    S3Backend,
    S3Server,
    Store,
)

MiB = 1024 * 1024
ODD_CHUNK_SIZES = (1, 4093, 65537, MiB + 3, 7, 2 * MiB - 1)


class UploadAborted(Exception):
    """Raised by a test's chunk iterator, as a client that disconnects mid-upload would."""


class Interrupted(BaseException):
    """Like KeyboardInterrupt or SystemExit: not an Exception, so minio does not abort on it."""


def pattern(size: int, *, seed: int = 0) -> bytes:
    """Deterministic, non-repeating-looking bytes, so a misplaced range cannot pass by luck."""
    blocks = (hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


def odd_chunks(data: bytes) -> Iterator[bytes]:
    position = 0
    for size in itertools.cycle(ODD_CHUNK_SIZES):
        if position >= len(data):
            return
        yield data[position : position + size]
        position += size


def helper_threads() -> list[str]:
    """The stores' helper threads still alive (upload, writer, read-ahead): none, between calls.

    The hub's download readers are left out: a pool of the process, started by any download an
    earlier test in this process served, and kept until the process ends."""
    return [
        thread.name
        for thread in threading.enumerate()
        if thread.name.startswith("ketenhub-") and not thread.name.startswith(READER_THREAD_NAME)
    ]


def read_all(store: Store, key: str, *, offset: int = 0, length: int | None = None) -> bytes:
    with store.open(key, offset=offset, length=length) as reader:
        return b"".join(reader)


# --- round trips --------------------------------------------------------------------------------


def test_round_trip_of_zero_bytes(object_store: Store) -> None:
    info = object_store.put([])
    assert info.size == 0
    assert read_all(object_store, info.key) == b""
    assert object_store.stat(info.key) == info


def test_round_trip_of_one_byte(object_store: Store) -> None:
    info = object_store.put([b"\x00"])
    assert info.size == 1
    assert read_all(object_store, info.key) == b"\x00"


def test_round_trip_of_several_mib_in_odd_sized_chunks(object_store: Store) -> None:
    data = pattern(7 * MiB + 13)  # more than one 5 MiB S3 part, and not a multiple of anything
    info = object_store.put(odd_chunks(data))
    assert info.size == len(data)
    with object_store.open(info.key) as reader:
        assert reader.size == len(data)
        assert b"".join(reader) == data


def test_empty_chunks_from_the_caller_are_harmless(object_store: Store) -> None:
    info = object_store.put([b"", b"ab", b"", b"", b"c", b""])
    assert read_all(object_store, info.key) == b"abc"


def test_put_reports_what_stat_reports_with_an_aware_utc_time(object_store: Store) -> None:
    """The key and size as stat has them; the time as the store answered the put (S3: without
    asking again, from the PUT's own answer), so within a second of stat's."""
    info = object_store.put([b"hello"])
    assert info.modified.tzinfo is not None
    assert info.modified.utcoffset() == timedelta(0)
    stat = object_store.stat(info.key)
    assert (stat.key, stat.size) == (info.key, info.size)
    assert abs(stat.modified - info.modified) <= timedelta(seconds=1)


def test_a_multipart_put_reports_what_stat_reports(object_store: Store) -> None:
    data = pattern(6 * MiB + 1)  # more than one 5 MiB S3 part: completed, then checked by HEAD
    info = object_store.put(odd_chunks(data))
    assert object_store.stat(info.key) == info


# --- ranges and streaming -----------------------------------------------------------------------

RANGED_SIZE = 3 * MiB + 5
RANGES = [
    pytest.param(0, None, id="whole"),
    pytest.param(0, 1, id="first-byte"),
    pytest.param(1, None, id="from-1-to-end"),
    pytest.param(MiB - 1, 2, id="across-a-read-chunk"),
    pytest.param(2 * MiB - 7, MiB + 100, id="long-middle"),
    pytest.param(RANGED_SIZE - 1, None, id="last-byte"),
    pytest.param(RANGED_SIZE - 3, 100, id="clipped-at-end"),
    pytest.param(5, 0, id="zero-length"),
    pytest.param(RANGED_SIZE, None, id="at-end"),
    pytest.param(RANGED_SIZE + 10, 5, id="past-end"),
]


@pytest.fixture
def ranged_object(object_store: Store) -> tuple[Store, str, bytes]:
    data = pattern(RANGED_SIZE, seed=1)
    return object_store, object_store.put([data]).key, data


@pytest.mark.parametrize(("offset", "length"), RANGES)
def test_ranged_read_returns_the_slice_and_the_whole_size(
    ranged_object: tuple[Store, str, bytes], offset: int, length: int | None
) -> None:
    store, key, data = ranged_object
    expected = data[offset:] if length is None else data[offset : offset + length]
    with store.open(key, offset=offset, length=length) as reader:
        assert reader.size == len(data)
        assert b"".join(reader) == expected


def test_reads_stream_in_bounded_chunks(ranged_object: tuple[Store, str, bytes]) -> None:
    store, key, data = ranged_object
    with store.open(key) as reader:
        sizes = [len(chunk) for chunk in reader]
    assert sum(sizes) == len(data)
    assert len(sizes) > 1
    assert max(sizes) <= READ_CHUNK_SIZE


@pytest.mark.parametrize(("offset", "length"), RANGES)
def test_reads_of_any_size_return_the_slice_in_exactly_those_sizes(
    ranged_object: tuple[Store, str, bytes], offset: int, length: int | None
) -> None:
    """What the vault does: the header, then each segment in its own size (92 bytes, then
    1 MiB - 40, then 1 MiB), never cut at the store's own 1 MiB chunks."""
    store, key, data = ranged_object
    expected = data[offset:] if length is None else data[offset : offset + length]
    got: list[bytes] = []
    with store.open(key, offset=offset, length=length) as reader:
        for size in (92, MiB - 40, MiB, MiB, MiB, MiB):
            piece = reader.read(size)
            assert len(piece) == min(size, len(expected) - sum(map(len, got)))
            got.append(piece)
        assert reader.read(1) == b""
        assert reader.read(1) == b""  # still nothing, and nothing raised
    assert b"".join(got) == expected


def test_iteration_after_a_read_goes_on_where_the_read_stopped(
    ranged_object: tuple[Store, str, bytes],
) -> None:
    store, key, data = ranged_object
    with store.open(key, offset=3) as reader:
        head = reader.read(MiB + 7)
        assert head + b"".join(reader) == data[3:]


def open_descriptors() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


def test_reader_closed_before_the_end_releases_its_file_or_connection(
    ranged_object: tuple[Store, str, bytes],
) -> None:
    store, key, data = ranged_object
    with store.open(key, length=1) as reader:  # warm up: the S3 pool keeps one connection
        assert b"".join(reader) == data[:1]
    before = open_descriptors()
    readers = []  # kept alive, so only close() (not garbage collection) can free anything
    for _ in range(15):  # more than the S3 connection pool holds (10)
        reader = store.open(key)
        readers.append(reader)
        with reader:
            first = next(iter(reader))
        assert data.startswith(first)
    assert open_descriptors() - before < 3
    with store.open(key, offset=1, length=3) as reader:
        assert b"".join(reader) == data[1:4]


def test_reader_closed_without_reading_releases_it(
    ranged_object: tuple[Store, str, bytes],
) -> None:
    store, key, _ = ranged_object
    reader = store.open(key)
    reader.close()
    reader.close()  # idempotent
    assert list(reader) == []


@pytest.mark.parametrize(("offset", "length"), [(-1, None), (0, -1)])
def test_negative_offset_or_length_is_refused(
    ranged_object: tuple[Store, str, bytes], offset: int, length: int | None
) -> None:
    store, key, _ = ranged_object
    with pytest.raises(ValueError, match="negative"):
        store.open(key, offset=offset, length=length)


# --- keys ---------------------------------------------------------------------------------------


def test_keys_are_random_32_hex_and_differ(object_store: Store) -> None:
    keys = [object_store.put([b"same content"]).key for _ in range(16)]
    assert all(KEY.fullmatch(key) for key in keys)
    assert len(set(keys)) == len(keys)


INVALID_KEYS = [
    pytest.param("../etc/passwd", id="parent-traversal"),
    pytest.param("ab/../../x", id="nested-traversal"),
    pytest.param("/etc/passwd", id="absolute-path"),
    pytest.param("", id="empty"),
    pytest.param("0123456789ABCDEF0123456789ABCDEF", id="uppercase"),
    pytest.param("0123456789abcdef0123456789abcdef\n", id="trailing-newline"),
    pytest.param("0123456789abcdef0123456789abcde", id="31-chars"),
    pytest.param("0123456789abcdef0123456789abcdef0", id="33-chars"),
    pytest.param("0123456789abcdef0123456789abcdeg", id="not-hex"),
    pytest.param("01/3456789abcdef0123456789abcdef", id="slash-inside"),
]


@pytest.mark.parametrize("key", INVALID_KEYS)
@pytest.mark.parametrize("operation", ["open", "stat", "delete"])
def test_invalid_keys_are_refused(object_store: Store, operation: str, key: str) -> None:
    with pytest.raises(InvalidObjectKey) as raised:
        getattr(object_store, operation)(key)
    if key.strip():  # a caller's input is not echoed into messages that end up in logs
        assert key.strip() not in str(raised.value)


# --- missing objects and deletion ---------------------------------------------------------------

ABSENT_KEY = "0" * 32


def test_open_of_a_missing_object_is_object_not_found(object_store: Store) -> None:
    with pytest.raises(ObjectNotFound):
        object_store.open(ABSENT_KEY)


def test_stat_of_a_missing_object_is_object_not_found(object_store: Store) -> None:
    with pytest.raises(ObjectNotFound):
        object_store.stat(ABSENT_KEY)


def test_deleted_object_is_gone(object_store: Store) -> None:
    info = object_store.put([b"to be deleted"])
    object_store.delete(info.key)
    with pytest.raises(ObjectNotFound):
        object_store.stat(info.key)
    with pytest.raises(ObjectNotFound):
        object_store.open(info.key)


def test_delete_is_idempotent(object_store: Store) -> None:
    info = object_store.put([b"x"])
    object_store.delete(info.key)
    object_store.delete(info.key)
    object_store.delete(ABSENT_KEY)


# --- listing ------------------------------------------------------------------------------------


def test_iter_objects_lists_what_was_put(object_store: Store) -> None:
    infos = [object_store.put([pattern(size)]) for size in (0, 1, 1000)]
    assert sorted(object_store.iter_objects(), key=lambda i: i.key) == sorted(
        infos, key=lambda i: i.key
    )
    object_store.delete(infos[1].key)
    assert {i.key for i in object_store.iter_objects()} == {infos[0].key, infos[2].key}


def test_iter_objects_of_an_empty_store_is_empty(object_store: Store) -> None:
    assert list(object_store.iter_objects()) == []


# --- atomicity ----------------------------------------------------------------------------------


def failing_chunks(
    total: int, *, fail_after: int, error: type[BaseException] = UploadAborted
) -> Iterator[bytes]:
    sent = 0
    for chunk in odd_chunks(pattern(total)):
        if sent >= fail_after:
            raise error("client went away")
        sent += len(chunk)
        yield chunk


@pytest.mark.parametrize("error", [UploadAborted, Interrupted])
@pytest.mark.parametrize(
    "fail_after",
    [
        pytest.param(1000, id="within-the-first-part"),
        pytest.param(2 * MIN_PART_SIZE + 123, id="after-two-parts-were-uploaded"),
    ],
)
def test_put_whose_chunks_fail_midway_leaves_nothing(
    backend: Backend, object_store: Store, fail_after: int, error: type[BaseException]
) -> None:
    # The caller's own exception comes back unchanged, not translated into a storage error.
    with pytest.raises(error, match="client went away"):
        object_store.put(failing_chunks(4 * MIN_PART_SIZE, fail_after=fail_after, error=error))
    assert list(object_store.iter_objects()) == []
    assert backend.leftovers(object_store) == []
    assert helper_threads() == []


def test_large_put_is_whole_and_leaves_no_thread_behind(object_store: Store) -> None:
    # Several parts on either backend, so the put ran its upload or writer thread.
    data = pattern(3 * MIN_PART_SIZE + 4093, seed=5)
    info = object_store.put(odd_chunks(data))
    assert helper_threads() == []
    assert info.size == len(data)
    assert read_all(object_store, info.key) == data


def test_put_in_progress_is_not_listed(object_store: Store) -> None:
    seen_during_put: list[list[str]] = []

    def chunks() -> Iterator[bytes]:
        yield pattern(MIN_PART_SIZE + 1)  # on S3 the first part is uploaded by now
        seen_during_put.append([i.key for i in object_store.iter_objects()])
        yield b"tail"

    info = object_store.put(chunks())
    assert seen_during_put == [[]]
    assert [i.key for i in object_store.iter_objects()] == [info.key]


def test_sweep_removes_only_stale_incomplete_writes(backend: Backend) -> None:
    store = backend.new_store()
    store.ensure_ready()
    kept = store.put([b"complete"])
    backend.leave_incomplete_write(store)
    assert backend.leftovers(store) != []

    assert store.sweep_incomplete() == 0  # fresh: maybe a slow put still writing
    assert store.sweep_incomplete(now=datetime.now(UTC) + timedelta(hours=2)) == 1
    assert backend.leftovers(store) == []
    assert [i.key for i in store.iter_objects()] == [kept.key]


# --- root directory or bucket -------------------------------------------------------------------


def test_ensure_ready_creates_a_missing_root_or_bucket(backend: Backend) -> None:
    store = backend.new_store()
    with pytest.raises(backend.missing_location_error):
        store.check()
    store.ensure_ready()
    store.check()
    info = store.put([b"kept"])
    store.ensure_ready()  # again: changes nothing
    assert read_all(store, info.key) == b"kept"


def test_put_before_ensure_ready_fails_and_creates_nothing(backend: Backend) -> None:
    store = backend.new_store()
    with pytest.raises(backend.missing_location_error):
        store.put([b"x"])
    assert not backend.location_exists(store)


@pytest.mark.parametrize("operation", ["put", "open", "stat", "delete", "iter_objects", "check"])
def test_vanished_root_or_bucket_is_reported_never_recreated(
    backend: Backend, object_store: Store, operation: str
) -> None:
    key = object_store.put([b"will vanish"]).key
    backend.remove_location(object_store)
    calls = {
        "put": lambda: object_store.put([b"x"]),
        "open": lambda: object_store.open(key),
        "stat": lambda: object_store.stat(key),
        "delete": lambda: object_store.delete(key),
        "iter_objects": lambda: list(object_store.iter_objects()),
        "check": object_store.check,
    }
    with pytest.raises(backend.missing_location_error):
        calls[operation]()
    assert not backend.location_exists(object_store)


# --- S3 only ------------------------------------------------------------------------------------


def test_large_multipart_upload_round_trips(s3_backend: S3Backend, s3_server: S3Server) -> None:
    store = s3_backend.new_store(part_size=5 * MiB)
    store.ensure_ready()
    size = 40 * MiB + 17
    data = pattern(size, seed=40)
    info = store.put(odd_chunks(data))
    assert info.size == size
    # A multipart ETag ends in "-<parts>": 8 full 5 MiB parts and the 17-byte rest.
    assert (s3_server.admin().stat_object(store.bucket, info.key).etag or "").endswith("-9")
    digest = hashlib.sha256()
    with store.open(info.key) as reader:
        for chunk in reader:
            digest.update(chunk)
    assert digest.digest() == hashlib.sha256(data).digest()
    assert s3_backend.leftovers(store) == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


S3_OPERATIONS = ["put", "open", "stat", "delete", "iter_objects", "check", "ensure_ready"]


def call(store: S3Store, operation: str) -> object:
    calls: dict[str, Callable[[], object]] = {
        "put": lambda: store.put([b"x"]),
        "open": lambda: store.open(ABSENT_KEY),
        "stat": lambda: store.stat(ABSENT_KEY),
        "delete": lambda: store.delete(ABSENT_KEY),
        "iter_objects": lambda: list(store.iter_objects()),
        "check": store.check,
        "ensure_ready": store.ensure_ready,
    }
    return calls[operation]()


@pytest.mark.timeout(20)  # a hang is the failure this guards against
@pytest.mark.parametrize("operation", S3_OPERATIONS)
def test_unreachable_s3_server_is_store_unavailable(operation: str) -> None:
    store = S3Store(
        endpoint=f"http://127.0.0.1:{closed_port()}",
        access_key=S3_TEST_ACCESS_KEY,
        secret_key="unused",
        bucket="unreachable",
    )
    with pytest.raises(StoreUnavailable, match=re.escape("127.0.0.1")):
        call(store, operation)


@pytest.mark.timeout(20)
def test_s3_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel accepts connections; nobody ever answers
        port = listener.getsockname()[1]
        store = S3Store(
            endpoint=f"http://127.0.0.1:{port}",
            access_key=S3_TEST_ACCESS_KEY,
            secret_key="unused",
            bucket="silent",
            timeout=0.5,
        )
        with pytest.raises(StoreUnavailable, match=r"(?i)timed out"):
            store.check()


@pytest.mark.parametrize("operation", S3_OPERATIONS)
def test_wrong_secret_key_is_store_unavailable(
    s3_backend: S3Backend, s3_server: S3Server, operation: str
) -> None:
    good = s3_backend.new_store()
    good.ensure_ready()
    bad = s3_server.store(good.bucket, secret_key="not-the-secret")
    with pytest.raises(StoreUnavailable) as raised:
        call(bad, operation)
    assert not isinstance(raised.value, BucketMissing)
    assert "not-the-secret" not in str(raised.value)
    assert list(good.iter_objects()) == []
    assert s3_backend.leftovers(good) == []


# Quotas are set through Ceph's own radosgw-admin, so this one runs against Ceph only.
@pytest.mark.parametrize("s3_server", [pytest.param("ceph", marks=pytest.mark.s3)], indirect=True)
def test_bucket_quota_exceeded_is_store_full(s3_backend: S3Backend) -> None:
    conf = Path(os.environ.get("KETENHUB_S3_TEST_DIR", "/tmp/khs3")) / "ceph" / "ceph.conf"
    if not conf.is_file():
        pytest.fail(f"{conf} is missing; start Ceph with scripts/s3-test-servers up ceph")
    store = s3_backend.new_store()
    store.ensure_ready()
    admin = ["radosgw-admin", "-c", str(conf)]
    for action, extra in (("set", ["--max-size=65536"]), ("enable", [])):
        subprocess.run(
            [*admin, "quota", action, "--quota-scope=bucket", f"--bucket={store.bucket}", *extra],
            check=True,
            capture_output=True,
        )
    small = store.put([b"fits"])
    with pytest.raises(StoreFull):
        store.put([pattern(200_000)])
    assert [i.key for i in store.iter_objects()] == [small.key]
    assert s3_backend.leftovers(store) == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://127.0.0.1:7482",
        "127.0.0.1:7482",
        "http://127.0.0.1:7482/bucket",
        "http://127.0.0.1:7482?x=1",
        "http://user:pass@127.0.0.1:7482",
        "http://127.0.0.1:port",
        "http://",
    ],
)
def test_s3_endpoint_must_be_a_bare_http_or_https_url(endpoint: str) -> None:
    with pytest.raises(ValueError, match=r"endpoint|port"):
        S3Store(endpoint=endpoint, access_key="a", secret_key="b", bucket="bucket")


def test_s3_part_size_below_the_s3_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="part_size"):
        S3Store(
            endpoint="http://127.0.0.1:7482",
            access_key="a",
            secret_key="b",
            bucket="bucket",
            part_size=MIN_PART_SIZE - 1,
        )


def test_s3_store_repr_shows_no_credentials() -> None:
    store = S3Store(
        endpoint="https://s3.example.nl", access_key="AKIA-ID", secret_key="s3cr3t", bucket="docs"
    )
    assert "s3cr3t" not in repr(store)
    assert "AKIA-ID" not in repr(store)


# minio's _upload_part(bucket, key, data, headers, upload_id, part_number) -> etag
PartUpload = Callable[..., str]


def fail_upload_part(
    store: S3Store, monkeypatch: pytest.MonkeyPatch, wrap: Callable[[PartUpload], PartUpload]
) -> None:
    """Wrap the store's UploadPart: the server stays real, one call is made to misbehave."""
    client = store._client
    monkeypatch.setattr(client, "_upload_part", wrap(client._upload_part))


def test_part_upload_failing_mid_stream_leaves_nothing(
    s3_backend: S3Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3_backend.new_store(part_size=MIN_PART_SIZE)
    store.ensure_ready()
    sent: list[int] = []

    def wrap(upload_part: PartUpload) -> PartUpload:
        def third_fails(*args: object) -> str:
            number = args[5]
            if number == 3:  # two parts are on the server by now
                raise ProtocolError("connection dropped in the middle of a part")
            sent.append(int(str(number)))
            return upload_part(*args)

        return third_fails

    fail_upload_part(store, monkeypatch, wrap)
    with pytest.raises(StoreUnavailable, match="upload"):
        store.put(odd_chunks(pattern(6 * MIN_PART_SIZE)))
    assert sent == [1, 2]
    assert list(store.iter_objects()) == []
    assert s3_backend.leftovers(store) == []  # the two parts went with the aborted upload
    assert helper_threads() == []


def test_caller_failure_while_a_part_is_in_flight_leaves_nothing(
    s3_backend: S3Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3_backend.new_store(part_size=MIN_PART_SIZE)
    store.ensure_ready()
    part_2_started, caller_failed = threading.Event(), threading.Event()
    events: list[str] = []

    def wrap(upload_part: PartUpload) -> PartUpload:
        def slow_second_part(*args: object) -> str:
            if args[5] == 2:
                part_2_started.set()
                assert caller_failed.wait(10)
                time.sleep(0.2)  # still uploading while the caller's exception propagates
            etag = upload_part(*args)
            events.append(f"part {args[5]} uploaded")
            return etag

        return slow_second_part

    def chunks() -> Iterator[bytes]:
        yield from odd_chunks(pattern(2 * MIN_PART_SIZE + 1))  # parts 1 and 2 are handed over
        assert part_2_started.wait(10)
        events.append("caller failed")
        caller_failed.set()
        raise UploadAborted("client went away")

    fail_upload_part(store, monkeypatch, wrap)
    with pytest.raises(UploadAborted, match="client went away"):
        store.put(chunks())
    # put() waited for the part in flight before it aborted the upload and re-raised.
    assert events == ["part 1 uploaded", "caller failed", "part 2 uploaded"]
    assert list(store.iter_objects()) == []
    assert s3_backend.leftovers(store) == []
    assert helper_threads() == []


def test_failed_completion_leaves_nothing(
    s3_backend: S3Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3_backend.new_store(part_size=MIN_PART_SIZE)
    store.ensure_ready()
    client = store._client

    def lost(*args: object, **kwargs: object) -> None:
        raise ProtocolError("connection dropped before CompleteMultipartUpload was sent")

    monkeypatch.setattr(client, "_complete_multipart_upload", lost)
    with pytest.raises(StoreUnavailable, match="upload"):
        store.put(odd_chunks(pattern(2 * MIN_PART_SIZE + 1)))
    assert list(store.iter_objects()) == []
    assert s3_backend.leftovers(store) == []


def test_upload_aborted_by_someone_else_fails_the_put_cleanly(
    s3_backend: S3Backend, s3_server: S3Server
) -> None:
    store = s3_backend.new_store(part_size=MIN_PART_SIZE)
    store.ensure_ready()
    admin = s3_server.admin()

    def chunks() -> Iterator[bytes]:
        data = pattern(6 * MIN_PART_SIZE)
        yield data[: 3 * MIN_PART_SIZE]  # parts 1 and 2 are handed over
        # An operator (or a lifecycle rule) aborts the upload while the put is running.
        for upload in admin._list_multipart_uploads(store.bucket).uploads:
            if upload.upload_id:
                admin._abort_multipart_upload(store.bucket, upload.object_name, upload.upload_id)
        yield data[3 * MIN_PART_SIZE :]

    with pytest.raises(StoreUnavailable, match="upload"):
        store.put(chunks())
    assert list(store.iter_objects()) == []
    assert s3_backend.leftovers(store) == []
    assert helper_threads() == []


def test_concurrent_puts_from_threads_all_land(object_store: Store) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            info = object_store.put([pattern(100_000, seed=seed)])
            assert read_all(object_store, info.key) == pattern(100_000, seed=seed)
            results.append(info.key)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {i.key for i in object_store.iter_objects()} == set(results)


# --- filesystem only ----------------------------------------------------------------------------


def test_full_disk_is_store_full_and_leaves_no_temp_file(tiny_filesystem: Path) -> None:
    store = FilesystemStore(tiny_filesystem / "objects")
    store.ensure_ready()
    with pytest.raises(StoreFull):
        store.put(odd_chunks(pattern(MiB)))
    assert [p for p in store.root.rglob("*") if not p.is_dir()] == []
    assert list(store.iter_objects()) == []
    small = store.put([b"still usable"])  # the failed put gave its space back
    assert read_all(store, small.key) == b"still usable"


@pytest.fixture
def six_mib_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs: room for the first parts of a put, which then fills it from its thread."""
    mountpoint = tmp_path / "six-mib"
    mountpoint.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mountpoint)]
    mounted = subprocess.run(command, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs ({mounted.stderr.strip()}); needs root", pytrace=False)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_disk_filling_up_under_the_writer_thread_is_store_full_and_leaves_nothing(
    six_mib_filesystem: Path,
) -> None:
    store = FilesystemStore(six_mib_filesystem / "objects")
    store.ensure_ready()
    # The first 4 MiB are written directly; ENOSPC hits a later part, on the writer thread.
    with pytest.raises(StoreFull):
        store.put(odd_chunks(pattern(16 * MiB)))
    assert helper_threads() == []
    assert [p for p in store.root.rglob("*") if not p.is_dir()] == []
    small = store.put([b"still usable"])
    assert read_all(store, small.key) == b"still usable"


def test_temp_files_and_objects_are_private_whatever_the_umask(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "objects")
    previous = os.umask(0)
    try:
        store.ensure_ready()
        temp_modes: list[int] = []

        def chunks() -> Iterator[bytes]:
            yield b"first half"
            temp_modes.extend(
                stat.S_IMODE(path.stat().st_mode) for path in store.root.rglob(".*.tmp")
            )
            yield b"second half"

        info = store.put(chunks())
    finally:
        os.umask(previous)
    assert temp_modes == [0o600]
    object_path = store.root / info.key[:2] / info.key
    assert stat.S_IMODE(object_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(object_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700


def test_symlink_planted_in_the_store_is_not_followed(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "objects")
    store.ensure_ready()
    secret = tmp_path / "outside"
    secret.write_bytes(b"not an object")
    key = "ab" + "0" * 30
    (store.root / "ab").mkdir()
    (store.root / "ab" / key).symlink_to(secret)
    with pytest.raises(StoreUnavailable):
        read_all(store, key)
    with pytest.raises(StoreUnavailable):
        store.stat(key)
    assert list(store.iter_objects()) == []


def test_store_root_is_fixed_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = FilesystemStore(Path("objects"))
    store.ensure_ready()
    monkeypatch.chdir("/")
    info = store.put([b"x"])
    assert (tmp_path / "objects" / info.key[:2] / info.key).is_file()


def test_a_reader_over_chunks_joins_and_cuts_them_for_reads() -> None:
    """A reader built from chunks (a wrapper's, a test's) reads any size too: a chunk that is
    exactly what was asked goes out as it is; a read across chunks joins them; what a read did
    not take is served first by the next read or by iteration."""
    released = []
    chunks = [b"abcd", b"efgh", b"ij"]
    reader = StreamReader(size=10, chunks=iter(chunks), release=lambda: released.append(1))
    assert reader.read(4) is chunks[0]
    assert reader.read(3) == b"efg"
    assert reader.read(0) == b""
    assert list(reader) == [b"h", b"ij"]
    assert reader.read(5) == b""
    assert released == [1]


def test_a_reader_over_a_read_function_releases_once_at_the_end() -> None:
    released = []
    source = io.BytesIO(b"0123456789")
    reader = StreamReader(size=10, read=source.read, release=lambda: released.append(1))
    assert reader.read(3) == b"012"
    assert b"".join(reader) == b"3456789"
    assert reader.read(1) == b""
    reader.close()
    assert released == [1]
    with pytest.raises(TypeError, match="one of them"):
        StreamReader(size=0, release=lambda: None)


def test_a_body_read_to_its_end_gives_its_connection_back_for_the_next_get(
    ranged_object: tuple[Store, str, bytes],
) -> None:
    """Reads of the exact sizes the vault asks for still end the body cleanly: urllib3 hands
    the connection back when the body is read to its end, and the next GET reuses it (no new
    TCP connection per download). A body closed early is never reused: its unread bytes would
    be read as the next answer."""
    store, key, data = ranged_object
    if not isinstance(store, S3Store):
        pytest.skip("connections are an S3 store's")
    pool = store._client._http.connection_from_url(store._endpoint)

    def pooled_ports() -> set[int]:
        """The local ports of the open connections waiting in the pool."""
        assert pool.pool is not None
        idle = [c for c in list(pool.pool.queue) if c is not None and c.sock is not None]
        return {c.sock.getsockname()[1] for c in idle}

    with store.open(key, offset=5, length=MiB) as reader:
        assert b"".join(reader) == data[5 : 5 + MiB]
    ports = pooled_ports()
    assert ports
    for _ in range(3):
        with store.open(key) as reader:
            assert b"".join(reader) == data
        with store.open(key, offset=7, length=100) as reader:
            assert reader.read(100) == data[7:107]
        assert pooled_ports() == ports
    with store.open(key) as reader:
        assert data.startswith(reader.read(10))
    assert not pooled_ports() & ports
