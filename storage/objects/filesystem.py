"""The filesystem object store: the embedded default, atomic and durable writes."""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from storage.errors import (
    ObjectNotFound,
    StorageError,
    StoreFull,
    StoreUnavailable,
)
from storage.objects.base import (
    KEY_PATTERN,
    STALE_AFTER,
    MiB,
    ObjectInfo,
    ObjectReader,
    StreamReader,
    check_range,
    checked_key,
    end_of_range,
    new_key,
)
from storage.objects.pipeline import OneInFlight, Part, PartSource

_SHARD = re.compile(r"[0-9a-f]{2}")
_TEMP = re.compile(r"\.[0-9a-f]{32}\.tmp")


def _os_failure(exc: OSError, what: str) -> StoreUnavailable:
    if exc.errno in {errno.ENOSPC, errno.EDQUOT}:
        return StoreFull(f"filesystem store is full: {what}: {exc.strerror}")
    return StoreUnavailable(f"filesystem store: {what}: {exc.strerror or exc}")


def _modified(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC)


def _fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new or removed name) survive a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


WRITE_PART_SIZE: Final = 4 * MiB
"""Bytes a put hands to its writer thread at a time; two such buffers per put."""

_SYNC_FILE_RANGE_WRITE: Final = 2  # <linux/fs.h>: start writeback of dirty pages, do not wait


def _load_start_writeback() -> Callable[[int, int, int], object] | None:
    """Linux's ``sync_file_range(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE)``, or None.

    Python's os module does not offer it (PostgreSQL uses the same call for the same purpose:
    its ``*_flush_after`` settings). It only *starts* writeback of a range and returns, so the
    disk writes while the next part is being encrypted; without it the kernel keeps up to
    ``dirty_background_ratio`` of memory dirty, and the fsync at the end has to write the whole
    object while nothing else happens. It is a hint: durability still rests on that fsync, which
    also reports any error the early writeback met, so its return value is ignored.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return lambda fd, offset, length: function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


_start_writeback = _load_start_writeback()


class _Writer:
    """Appends to ``fd`` and starts the writeback of what it wrote (see _load_start_writeback)."""

    __slots__ = ("_fd", "_unflushed", "position")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._unflushed = 0  # where the bytes whose writeback has not been started begin
        self.position = 0

    def write(self, data: memoryview) -> None:
        view = data
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except OSError as exc:
                raise _os_failure(exc, "writing an object") from exc
        self.position += len(data)

    def write_part(self, part: Part) -> None:
        """Runs on the put's helper thread. The last part is left to the fsync."""
        self.write(part.data)
        if not part.last:
            self.start_writeback()

    def start_writeback(self) -> None:
        if _start_writeback is not None and self.position > self._unflushed:
            _start_writeback(self._fd, self._unflushed, self.position - self._unflushed)
        self._unflushed = self.position


def _write_durably(fd: int, chunks: Iterable[bytes]) -> os.stat_result:
    """Write every chunk to ``fd``, fsync it and return its stat.

    The first :data:`WRITE_PART_SIZE` bytes are written straight from the caller's chunks on
    this thread: most documents are smaller than that, and need neither a copy nor a thread.
    The rest is pipelined (see :mod:`storage.objects.pipeline`): parts of ``WRITE_PART_SIZE``
    are written, and their writeback started, on a helper thread while the caller's iterator
    produces the next part.

    Only the store's own system calls are translated: an exception from the caller's iterator
    is theirs (a size limit, a broken client upload) and must reach them unchanged, even when
    it is an OSError.
    """
    writer = _Writer(fd)
    remaining = iter(chunks)
    for chunk in remaining:
        writer.write(memoryview(chunk).cast("B"))
        if writer.position >= WRITE_PART_SIZE:
            writer.start_writeback()
            with OneInFlight("ketenhub-fs-put") as worker:
                for part in PartSource(remaining, WRITE_PART_SIZE):
                    if part.data:  # empty only if nothing followed the first bytes
                        worker.submit(functools.partial(writer.write_part, part))
            break
    try:
        os.fsync(fd)
        return os.fstat(fd)
    except OSError as exc:
        raise _os_failure(exc, "flushing an object") from exc


class _Span:
    """Bytes ``[position, end)`` of an open file, read with ``pread`` in pieces of the caller's
    size (one system call, one copy, per piece)."""

    __slots__ = ("_end", "_fd", "_position")

    def __init__(self, fd: int, position: int, end: int) -> None:
        self._fd = fd
        self._position = position
        self._end = end

    def read(self, size: int) -> bytes:
        size = min(size, self._end - self._position)
        if size <= 0:
            return b""
        try:
            data = os.pread(self._fd, size, self._position)
            while len(data) < size:  # a regular file reads whole, but the call may not
                more = os.pread(self._fd, size - len(data), self._position + len(data))
                if not more:  # truncated underneath us; never invent the missing bytes
                    raise StoreUnavailable("filesystem store: object shrank while being read")
                data += more
        except OSError as exc:
            raise _os_failure(exc, "reading an object") from exc
        self._position += size
        return data


class FilesystemStore:
    """Objects as files under ``root``, in 256 shard directories: ``root/<key[:2]>/<key>``.

    Writes go to ``root/<key[:2]>/.<key>.tmp``, created with ``O_EXCL`` and mode 0600 (so no
    other user can read a half-written object whatever the umask), then are fsynced, renamed
    over the final name with ``os.replace`` and made durable by fsyncing the directory. Readers
    therefore never see a partial object, and a crash leaves at most a temp file, which
    :meth:`iter_objects` skips and :meth:`sweep_incomplete` removes. Directories are created
    0700. Files are opened with ``O_NOFOLLOW``, so a planted symlink is refused, not followed.

    A put larger than :data:`WRITE_PART_SIZE` is pipelined: one helper thread writes each part
    and starts its writeback to disk while the caller's iterator (the encryption) produces the
    next, so the final fsync finds little left to write. Memory per put is two parts (8 MiB);
    the thread is joined before ``put`` returns or raises. Reads need no helper thread: the
    kernel's readahead already keeps the disk busy while the consumer decrypts.
    """

    def __init__(self, root: Path) -> None:
        # Absolute now, so a later chdir cannot move the store.
        self._root = Path(root).absolute()

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"FilesystemStore({str(self._root)!r})"

    def _path(self, key: str) -> Path:
        key = checked_key(key)
        return self._root / key[:2] / key

    def _not_found(self, key: str) -> StorageError:
        # A missing root is an outage (an unmounted volume, a wrong path), not a missing object.
        if not self._root.is_dir():
            return StoreUnavailable(f"filesystem store root {self._root} does not exist")
        return ObjectNotFound(f"no object {key}")

    def put(self, chunks: Iterable[bytes]) -> ObjectInfo:
        key = new_key()
        shard = self._root / key[:2]
        final = shard / key
        temp = shard / f".{key}.tmp"
        self._make_shard(shard)
        try:
            fd = os.open(
                temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
            )
        except OSError as exc:
            raise _os_failure(exc, "creating a temp file") from exc
        renamed = False
        try:
            try:
                st = _write_durably(fd, chunks)
            except BaseException:
                with suppress(OSError):  # the first failure is the one to report
                    os.close(fd)
                raise
            try:
                os.close(fd)  # NFS may report a late ENOSPC only here
                temp.replace(final)
                renamed = True
                _fsync_dir(shard)
            except OSError as exc:
                raise _os_failure(exc, "committing an object") from exc
        except BaseException:
            # Also for KeyboardInterrupt and the caller's own exceptions: nothing may remain.
            with suppress(OSError):
                (final if renamed else temp).unlink()
            raise
        return ObjectInfo(key=key, size=st.st_size, modified=_modified(st))

    def _make_shard(self, shard: Path) -> None:
        try:
            shard.mkdir(mode=0o700)
        except FileExistsError:
            return
        except FileNotFoundError as exc:
            raise StoreUnavailable(
                f"filesystem store root {self._root} does not exist; run ensure_ready()"
            ) from exc
        except OSError as exc:
            raise _os_failure(exc, "creating a shard directory") from exc
        try:
            _fsync_dir(self._root)
        except OSError as exc:
            raise _os_failure(exc, "creating a shard directory") from exc

    def open(self, key: str, *, offset: int = 0, length: int | None = None) -> ObjectReader:
        path = self._path(key)
        check_range(offset, length)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError as exc:
            raise self._not_found(key) from exc
        except OSError as exc:
            raise _os_failure(exc, "opening an object") from exc
        try:
            size = os.fstat(fd).st_size
        except OSError as exc:
            os.close(fd)
            raise _os_failure(exc, "opening an object") from exc
        end = end_of_range(size, offset, length)
        return StreamReader(
            size=size, read=_Span(fd, offset, end).read, release=lambda: os.close(fd)
        )

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat(follow_symlinks=False)
        except FileNotFoundError as exc:
            raise self._not_found(key) from exc
        except OSError as exc:
            raise _os_failure(exc, "reading object metadata") from exc
        if not stat.S_ISREG(st.st_mode):  # planted or corrupted; never follow or report it
            raise StoreUnavailable(f"filesystem store: {path} is not a regular file")
        return ObjectInfo(key=key, size=st.st_size, modified=_modified(st))

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError as exc:
            if not self._root.is_dir():
                raise StoreUnavailable(
                    f"filesystem store root {self._root} does not exist"
                ) from exc
            return
        except OSError as exc:
            raise _os_failure(exc, "deleting an object") from exc
        # Shard directories stay: removing an empty one would race with a concurrent put.
        with suppress(OSError):  # the name is gone already; durability of that is best effort
            _fsync_dir(path.parent)

    def _entries(self, pattern: re.Pattern[str]) -> Iterator[tuple[Path, os.stat_result]]:
        """Files in the shard directories whose names match ``pattern``, with their stat."""
        try:
            with os.scandir(self._root) as shards:
                for shard in shards:
                    if not (_SHARD.fullmatch(shard.name) and shard.is_dir(follow_symlinks=False)):
                        continue
                    with os.scandir(shard.path) as files:
                        for entry in files:
                            if not pattern.fullmatch(entry.name):
                                continue
                            try:
                                st = entry.stat(follow_symlinks=False)
                            except FileNotFoundError:
                                continue  # deleted since the listing; not an error
                            if stat.S_ISREG(st.st_mode):
                                yield Path(entry.path), st
        except OSError as exc:
            raise _os_failure(exc, "listing objects") from exc

    def iter_objects(self) -> Iterator[ObjectInfo]:
        for path, st in self._entries(KEY_PATTERN):
            if path.name.startswith(path.parent.name):
                yield ObjectInfo(key=path.name, size=st.st_size, modified=_modified(st))

    def sweep_incomplete(
        self, *, older_than: timedelta = STALE_AFTER, now: datetime | None = None
    ) -> int:
        """Remove temp files of puts that died (crash, kill) more than ``older_than`` ago.

        A live put keeps writing to its temp file, so the age of its last modification tells an
        abandoned one from a slow one; a put stalled for longer than ``older_than`` then fails
        cleanly at its rename. Returns how many were removed.
        """
        cutoff = (now or datetime.now(UTC)) - older_than
        removed = 0
        for path, st in list(self._entries(_TEMP)):
            if _modified(st) < cutoff:
                with suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        return removed

    def check(self) -> None:
        try:
            st = self._root.stat()
        except FileNotFoundError as exc:
            raise StoreUnavailable(f"filesystem store root {self._root} does not exist") from exc
        except OSError as exc:
            raise _os_failure(exc, "checking the store root") from exc
        if not stat.S_ISDIR(st.st_mode):
            raise StoreUnavailable(f"filesystem store root {self._root} is not a directory")
        # access() also reports a read-only mount (EROFS) as not writable.
        if not os.access(self._root, os.R_OK | os.W_OK | os.X_OK):
            raise StoreUnavailable(f"filesystem store root {self._root} is not writable")

    def ensure_ready(self) -> None:
        try:
            self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_failure(exc, "creating the store root") from exc
        self.check()


# --- S3 -----------------------------------------------------------------------------------------
