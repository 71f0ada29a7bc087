"""Benchmark of the encrypted object store: throughput against raw I/O, and memory per stream.

A benchmark, not a test: it prints figures and asserts nothing about time. It fails only when
the bytes read back are not the bytes written.

What it measures, for the filesystem store and for SeaweedFS (S3), in one run:

1. **Throughput.** An *encrypted put* streams the plaintext in 1 MiB chunks through
   :func:`storage.envelope.encrypt` into ``store.put``; an *encrypted get* streams
   ``store.open`` through :func:`storage.envelope.decrypt` and consumes the plaintext. Each is
   compared with a *raw* put and get of the same bytes on the same backend:

   - S3: ``minio`` ``put_object`` / ``get_object`` on the same server and bucket, with the part
     size and ``num_parallel_uploads`` that :class:`~storage.objects.S3Store` uses, read in
     chunks of :data:`~storage.objects.READ_CHUNK_SIZE` like the store reads;
   - filesystem: ``os.write`` of the bytes to a file in the store's directory, then ``fsync``
     (the store fsyncs too), and ``os.read`` in chunks of ``READ_CHUNK_SIZE``.

   A third variant puts the same plaintext through the store *unencrypted* (``store`` in the
   table), which splits any gap into the store's own cost and the envelope's.

   On the filesystem every get is measured twice. *Warm*: the file is in the page cache, as
   right after its put (it is read once, untimed, just before, because proactive reclaim can
   evict a file idle for a few seconds); the raw read is then a memcpy from the page cache.
   *Cold*: before each timed read, the raw and the stored files are evicted from the page
   cache (``fsync``, then ``posix_fadvise(POSIX_FADV_DONTNEED)``), as for a document read long
   after it was stored, the realistic case for a document server. The target applies to both,
   and both are labelled. SeaweedFS's gets are whatever its server caches; nothing is evicted.

   Workloads: ``--small-count`` (100) objects of 1 MiB, and one object of ``--large-mib`` (256)
   MiB, all cut from one ``os.urandom`` buffer. Figures are MiB/s of plaintext (2**20 bytes per
   second) and the ratio encrypted / raw; the target is a ratio of at least 0.9 for the large
   object, for put and for get. The machine is shared and noisy, so every measurement is repeated
   ``--repeats`` (3) times, the variants interleaved and taking turns to go first. The
   table shows the **best** run of each (the least disturbed one; the target is judged on the
   ratio of the bests) and, as a cross-check, the ratio of the medians. It also shows the
   client's median CPU time per MiB, and how busy the whole machine's CPUs were during the
   runs (the S3 server shares them, and so may anything else on a shared machine). The
   envelope alone (encrypt and decrypt in memory, no store) is timed too; for every target
   missed, the report then says whether the cipher alone is too slow to meet it (with the I/O
   fully overlapped, enc/raw cannot exceed cipher speed / raw speed) or what else took the time.

2. **Memory.** In a fresh child process per backend (this file run with ``--memory-child``,
   so nothing the parent allocated hides growth), one ``--memory-gib`` (1) GiB object is
   encrypted, put, read back and decrypted, streamed from a generator of 1 MiB chunks and
   never held whole. The baseline is VmRSS after imports and store setup; the peak is VmHWM
   after the round trip, with the high-water mark reset (``/proc/self/clear_refs``) at the
   baseline, so it covers the round trip only. ``ru_maxrss`` (the process's lifetime peak) is
   printed beside it. The SHA-256 of the plaintext read back must equal that of the plaintext
   written. Target: growth under 64 MiB.

Run from the project root, with SeaweedFS started (``scripts/s3-test-servers up seaweed``)::

    .venv/bin/python benchmarks/storage.py [--quick] [--backends filesystem,seaweed]
        [--skip-memory] [--large-mib 256] [--small-count 100] [--memory-gib 1] [--repeats 3]

The S3 endpoint and credentials come from ``KETENHUB_TEST_S3_SEAWEED_ENDPOINT``,
``..._ACCESS_KEY`` and ``..._SECRET_KEY`` (defaults: those of ``scripts/s3-test-servers``).
Each run uses a fresh random bucket and temp directory (``$TMPDIR``) and removes them, with
every object in them, afterwards. A full run with the defaults needs about 2.5 GiB of free disk
and takes a few minutes. ``--quick`` is the smoke run CI does: both backends, 10 x 1 MiB, one
16 MiB object, one run each, a memory round trip of 128 MiB (sizes given explicitly win).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import hashlib
import inspect
import io
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final, Protocol, TypeVar, cast
from urllib.parse import urlsplit

if __name__ == "__main__":
    # Run as `python benchmarks/storage.py`, Python puts benchmarks/ first on sys.path, where
    # this very file would shadow the storage package it measures: put the project root there.
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import cryptography
import minio
from minio import Minio
from minio.error import MinioException
from urllib3.exceptions import HTTPError

from benchmarks.conventions import add_quick, apply_sizes, machine_header
from storage.envelope import Binding, ciphertext_size, decrypt, encrypt
from storage.objects import READ_CHUNK_SIZE, FilesystemStore, ObjectStore, S3Store

T = TypeVar("T")

MiB: Final = 1 << 20
GiB: Final = 1 << 30
RATIO_TARGET: Final = 0.9
MEMORY_TARGET_MIB: Final = 64
BACKENDS: Final = ("filesystem", "seaweed")

# Read from S3Store itself, so the raw baseline follows the store if its default changes.
PART_SIZE: Final[int] = inspect.signature(S3Store).parameters["part_size"].default
# S3Store.put has one part upload in flight at a time (see its docstring), overlapped only with
# the caller producing the next part; plain minio's sequential upload is the raw equivalent.
NUM_PARALLEL_UPLOADS: Final = 1

# Throwaway credentials of the local test server (scripts/s3-test-servers); not secrets.
S3_DEFAULTS: Final = {
    "ENDPOINT": "http://127.0.0.1:7482",
    "ACCESS_KEY": "ketenhub-test",
    "SECRET_KEY": "ketenhub-test-secret",
}


# --- backends -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class S3Settings:
    endpoint: str
    access_key: str
    secret_key: str

    @classmethod
    def from_environment(cls) -> S3Settings:
        def get(name: str) -> str:
            return os.environ.get(f"KETENHUB_TEST_S3_SEAWEED_{name}", S3_DEFAULTS[name])

        return cls(get("ENDPOINT"), get("ACCESS_KEY"), get("SECRET_KEY"))


class Backend(Protocol):
    """A store under test, plus raw (unencrypted, store-less) I/O on the same medium."""

    name: str
    store: ObjectStore
    has_files: bool  # whether objects are files here, whose page cache can be dropped

    def raw_put(self, data: bytes) -> str:
        """Write ``data`` as one object or file; return its name."""
        ...

    def raw_read(self, name: str) -> Iterator[bytes]:
        """Stream the object or file back in chunks of at most ``READ_CHUNK_SIZE``."""
        ...

    def raw_delete(self, name: str) -> None: ...

    def raw_path(self, name: str) -> Path | None:
        """The file behind a raw object, where there is one (for the cold-cache reads)."""
        ...

    def store_path(self, key: str) -> Path | None:
        """The file behind a stored object, where there is one."""
        ...


class FilesystemBackend:
    """FilesystemStore in ``root``; raw files go into ``root`` itself, beside the shards."""

    def __init__(self, root: Path) -> None:
        self.name = "filesystem"
        self.has_files = True
        self.root = root
        self.store: ObjectStore = FilesystemStore(root)
        self.store.ensure_ready()

    def raw_put(self, data: bytes) -> str:
        name = f"raw-{secrets.token_hex(16)}"
        fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)  # FilesystemStore fsyncs every object; a raw write without would flatter
        finally:
            os.close(fd)
        return name

    def raw_read(self, name: str) -> Iterator[bytes]:
        fd = os.open(self.root / name, os.O_RDONLY | os.O_CLOEXEC)
        try:
            # Read up to the size, as the store does, not until an empty read: at EOF,
            # os.read(fd, 1 MiB) allocates 1 MiB and shrinks it to nothing, and glibc answers
            # that by trimming and regrowing its heap (brk) every time, about 0.7 ms of CPU per
            # object here; that would make the raw baseline slower than the store.
            remaining = os.fstat(fd).st_size
            while remaining > 0 and (chunk := os.read(fd, min(READ_CHUNK_SIZE, remaining))):
                remaining -= len(chunk)
                yield chunk
        finally:
            os.close(fd)

    def raw_delete(self, name: str) -> None:
        (self.root / name).unlink()

    def raw_path(self, name: str) -> Path | None:
        return self.root / name

    def store_path(self, key: str) -> Path | None:
        return self.root / key[:2] / key  # FilesystemStore's layout: root/<key[:2]>/<key>


class SeaweedBackend:
    """S3Store on a fresh bucket; raw objects go into the same bucket through plain minio."""

    def __init__(self, settings: S3Settings, bucket: str) -> None:
        self.name = "seaweed"
        self.has_files = False
        self.bucket = bucket
        self.store: ObjectStore = S3Store(
            endpoint=settings.endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            bucket=bucket,
            part_size=PART_SIZE,
        )
        parts = urlsplit(settings.endpoint)
        self.client = Minio(
            parts.netloc,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=parts.scheme == "https",
        )

    def raw_put(self, data: bytes) -> str:
        name = f"raw-{secrets.token_hex(16)}"
        self.client.put_object(
            self.bucket,
            name,
            io.BytesIO(data),
            length=len(data),
            part_size=PART_SIZE,
            num_parallel_uploads=NUM_PARALLEL_UPLOADS,
        )
        return name

    def raw_read(self, name: str) -> Iterator[bytes]:
        response = self.client.get_object(self.bucket, name)
        try:
            yield from response.stream(READ_CHUNK_SIZE, decode_content=False)
        finally:
            response.close()
            response.release_conn()

    def raw_delete(self, name: str) -> None:
        self.client.remove_object(self.bucket, name)

    def raw_path(self, name: str) -> Path | None:
        return None  # the server's caches are not ours to drop

    def store_path(self, key: str) -> Path | None:
        return None

    def drop_bucket(self) -> None:
        """Remove the bucket with everything in it, unfinished multipart uploads included."""
        if not self.client.bucket_exists(self.bucket):
            return
        # minio-py has no public ListMultipartUploads; the storage tests use these two as well.
        for upload in self.client._list_multipart_uploads(self.bucket).uploads:
            if upload.upload_id is not None:
                self.client._abort_multipart_upload(
                    self.bucket, upload.object_name, upload.upload_id
                )
        for obj in self.client.list_objects(self.bucket, recursive=True):
            self.client.remove_object(self.bucket, obj.object_name)
        self.client.remove_bucket(self.bucket)


@contextlib.contextmanager
def open_backend(name: str, settings: S3Settings) -> Iterator[Backend]:
    """A backend on a fresh temp directory or bucket, removed with its contents afterwards."""
    if name == "filesystem":
        directory = Path(tempfile.mkdtemp(prefix="ketenhub-bench-"))
        try:
            yield FilesystemBackend(directory / "store")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    elif name == "seaweed":
        backend = SeaweedBackend(settings, f"ketenhub-bench-{secrets.token_hex(6)}")
        try:
            backend.store.ensure_ready()
            yield backend
        finally:
            try:
                backend.drop_bucket()
            except (MinioException, HTTPError, OSError) as exc:
                # Warn rather than raise: an exception here would hide the one that got us here.
                print(f"WARNING: could not remove bucket {backend.bucket}: {exc}", file=sys.stderr)
    else:
        raise ValueError(f"unknown backend {name!r}")


# --- the three ways of storing an object --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored object, however it was written: how to stream it back and to remove it."""

    read: Callable[[], Iterator[bytes]]
    delete: Callable[[], None]
    path: Path | None  # the file behind it, on the filesystem backend


def in_chunks(data: bytes, size: int = MiB) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield view[start : start + size]


def new_binding() -> Binding:
    return Binding(document_id=uuid.uuid4(), version=1, dek_id=os.urandom(16))


def read_store(store: ObjectStore, key: str) -> Iterator[bytes]:
    with store.open(key) as reader:
        yield from reader


def read_encrypted(store: ObjectStore, key: str, dek: bytes, binding: Binding) -> Iterator[bytes]:
    with store.open(key) as reader:
        yield from decrypt(reader, dek, binding)


def put_raw(backend: Backend, data: bytes) -> Stored:
    """The baseline: no store, no encryption (see the module docstring)."""
    name = backend.raw_put(data)
    return Stored(
        read=functools.partial(backend.raw_read, name),
        delete=functools.partial(backend.raw_delete, name),
        path=backend.raw_path(name),
    )


def put_plain(backend: Backend, data: bytes) -> Stored:
    """Through the store, unencrypted: separates the store's own cost from the cipher's."""
    # Both stores only ever take a memoryview of a chunk; copying each into bytes would charge
    # the store for a copy the benchmark made.
    info = backend.store.put(cast("Iterator[bytes]", in_chunks(data)))
    return Stored(
        read=functools.partial(read_store, backend.store, info.key),
        delete=functools.partial(backend.store.delete, info.key),
        path=backend.store_path(info.key),
    )


def put_encrypted(backend: Backend, data: bytes) -> Stored:
    """What the hub does: a fresh data key per object, envelope-encrypted into the store."""
    dek, binding = os.urandom(32), new_binding()
    info = backend.store.put(encrypt(in_chunks(data), dek, binding))
    if info.size != ciphertext_size(len(data)):
        raise RuntimeError(f"stored {info.size} bytes, expected {ciphertext_size(len(data))}")
    return Stored(
        read=functools.partial(read_encrypted, backend.store, info.key, dek, binding),
        delete=functools.partial(backend.store.delete, info.key),
        path=backend.store_path(info.key),
    )


VARIANTS: Final[dict[str, Callable[[Backend, bytes], Stored]]] = {
    "raw": put_raw,
    "store": put_plain,
    "encrypted": put_encrypted,
}


def count(pieces: Iterable[bytes]) -> int:
    return sum(len(piece) for piece in pieces)


# --- timing -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float
    cpu: float  # this process's user + system time, all threads
    busy: float  # share of the whole machine's CPU time that was busy (any process), 0..1


def machine_cpu_ticks() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine since boot, in ticks (/proc/stat)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


@dataclass(slots=True)
class Runs:
    """Repeated timings of one operation over ``size`` bytes of plaintext."""

    size: int
    samples: list[Sample] = field(default_factory=list)

    def best(self) -> Sample:
        return min(self.samples, key=lambda s: s.wall)

    def median_wall(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    def best_mib_s(self) -> float:
        return self.size / MiB / self.best().wall

    def cpu_ms_per_mib(self) -> float:
        """Client CPU per MiB, median over the runs (steadier than any one run's)."""
        return statistics.median(s.cpu for s in self.samples) * 1000 / (self.size / MiB)

    def busy_percent(self) -> float:
        """Machine CPU busy during the runs, median, in percent of all cores."""
        return statistics.median(s.busy for s in self.samples) * 100


def timed(fn: Callable[[], T]) -> tuple[T, Sample]:
    gc.collect()  # a collection from earlier garbage should not land inside the timed region
    busy, total = machine_cpu_ticks()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    busy_after, total_after = machine_cpu_ticks()
    share = (busy_after - busy) / (total_after - total) if total_after > total else 0.0
    return result, Sample(wall, cpu, share)


@dataclass(frozen=True, slots=True)
class Workload:
    label: str
    objects: tuple[bytes, ...]
    targeted: bool  # whether the ratio target applies

    @property
    def size(self) -> int:
        return sum(len(obj) for obj in self.objects)


@dataclass(slots=True)
class Comparison:
    """The runs of one operation ("put" or "get") per variant, on one workload and backend."""

    backend: str
    workload: Workload
    operation: str
    runs: dict[str, Runs]

    def ratio_best(self, variant: str = "encrypted") -> float:
        return self.runs[variant].best_mib_s() / self.runs["raw"].best_mib_s()

    def ratio_median(self) -> float:
        return self.runs["raw"].median_wall() / self.runs["encrypted"].median_wall()


def put_all(backend: Backend, variant: str, objects: Sequence[bytes]) -> list[Stored]:
    return [VARIANTS[variant](backend, obj) for obj in objects]


def get_all(stored: Sequence[Stored]) -> int:
    return sum(count(obj.read()) for obj in stored)


def verify(backend: Backend, workload: Workload, stored: Sequence[Stored]) -> None:
    """Untimed: every object reads back as exactly the bytes that were put."""
    for obj, expected in zip(stored, workload.objects, strict=True):
        digest = hashlib.sha256()
        for piece in obj.read():
            digest.update(piece)
        if digest.digest() != hashlib.sha256(expected).digest():
            raise RuntimeError(f"{backend.name}: an object read back differs from what was put")


def drop_cached(stored: Sequence[Stored]) -> None:
    """Evict the files behind ``stored`` from the page cache, so the next read comes from disk.

    POSIX_FADV_DONTNEED drops only clean pages; every variant fsynced its file when it was put,
    and the fsync here makes sure of it.
    """
    for obj in stored:
        if obj.path is None:
            raise RuntimeError("cold-cache reads need a file behind every object")
        fd = os.open(obj.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def load_cached(stored: Sequence[Stored]) -> None:
    """Read the files behind ``stored`` into the page cache, so the next read finds them there.

    Written a few seconds ago is not enough: kernels with proactive reclaim (DAMON, as on the
    machine this was written on) evict file pages after a few idle seconds.
    """
    for obj in stored:
        if obj.path is None:
            continue
        fd = os.open(obj.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            while os.read(fd, 8 * MiB):
                pass
        finally:
            os.close(fd)


def get_all_cold(stored: Sequence[Stored]) -> Callable[[], int]:
    drop_cached(stored)  # untimed: done before the timed function is handed out
    return functools.partial(get_all, stored)


def get_all_warm(stored: Sequence[Stored]) -> Callable[[], int]:
    load_cached(stored)  # untimed, as above
    return functools.partial(get_all, stored)


def measure(backend: Backend, workload: Workload, repeats: int) -> list[Comparison]:
    names = list(VARIANTS)
    # Reads on a backend with files are measured twice: warm (the page cache still holds the
    # file, as right after a put) and cold (evicted first, as for a document read days later).
    gets = {"get warm": False, "get cold": True} if backend.has_files else {"get": False}
    comparisons = {
        op: Comparison(backend.name, workload, op, {v: Runs(workload.size) for v in names})
        for op in ("put", *gets)
    }
    for rep in range(repeats):
        # The variants take turns to go first, so none always runs on a warmer or calmer machine.
        order = names[rep % len(names) :] + names[: rep % len(names)]
        stored: dict[str, list[Stored]] = {}
        for variant in order:
            stored[variant], sample = timed(
                functools.partial(put_all, backend, variant, workload.objects)
            )
            comparisons["put"].runs[variant].samples.append(sample)
        for op, evict in gets.items():
            for variant in order:
                read = get_all_cold(stored[variant]) if evict else get_all_warm(stored[variant])
                received, sample = timed(read)
                comparisons[op].runs[variant].samples.append(sample)
                if received != workload.size:
                    raise RuntimeError(f"{backend.name}: read {received} of {workload.size} bytes")
        for variant in order:
            if rep == 0:
                verify(backend, workload, stored[variant])
            for obj in stored[variant]:
                obj.delete()
        walls = "; ".join(
            f"{c.operation} "
            + ", ".join(f"{v} {c.runs[v].samples[-1].wall:5.2f}" for v in names)
            + " s"
            for c in comparisons.values()
        )
        print(f"  {backend.name:<10} {workload.label:<13} run {rep + 1}/{repeats}: {walls}")
    return list(comparisons.values())


def measure_envelope(data: bytes, repeats: int) -> tuple[Runs, Runs]:
    """Encrypt and decrypt ``data`` in memory, no store: the cipher's share of the work."""
    dek = os.urandom(32)
    binding = new_binding()
    # Decryption is fed in READ_CHUNK_SIZE chunks of the whole object, as a store delivers it.
    ciphertext = b"".join(encrypt(in_chunks(data), dek, binding))
    enc, dec = Runs(len(data)), Runs(len(data))
    for _ in range(repeats):
        produced, sample = timed(lambda: count(encrypt(in_chunks(data), dek, binding)))
        enc.samples.append(sample)
        received, sample = timed(
            lambda: count(decrypt(in_chunks(ciphertext, READ_CHUNK_SIZE), dek, binding))
        )
        dec.samples.append(sample)
        if produced != len(ciphertext) or received != len(data):
            raise RuntimeError("the envelope lost bytes")
    return enc, dec


# --- memory (runs in a child process) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemoryResult:
    backend: str
    size: int
    baseline_kib: int
    peak_kib: int
    ru_maxrss_kib: int
    peak_reset: bool  # whether VmHWM could be reset at the baseline
    sha256_match: bool
    put_seconds: float
    get_seconds: float

    @property
    def growth_mib(self) -> float:
        return (self.peak_kib - self.baseline_kib) / 1024


def proc_status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field_name} in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def patterned_chunks(number: int, sink: Callable[[bytes], object]) -> Iterator[bytes]:
    """``number`` distinct 1 MiB chunks, each also passed to ``sink``.

    Rotations of one random block: os.urandom itself runs at only ~200 MiB/s here, and the
    data's randomness matters little once it is encrypted.
    """
    block = os.urandom(MiB)
    for index in range(number):
        shift = (index * 7919) % MiB
        chunk = block[shift:] + block[:shift]
        sink(chunk)
        yield chunk


def memory_round_trip(name: str, size: int, settings: S3Settings) -> MemoryResult:
    with open_backend(name, settings) as backend:
        store = backend.store
        written, read = hashlib.sha256(), hashlib.sha256()
        dek = os.urandom(32)
        binding = new_binding()
        gc.collect()
        peak_reset = reset_peak_rss()
        baseline = proc_status_kib("VmRSS")
        started = time.perf_counter()
        info = store.put(encrypt(patterned_chunks(size // MiB, written.update), dek, binding))
        stored = time.perf_counter()
        for piece in read_encrypted(store, info.key, dek, binding):
            read.update(piece)
        finished = time.perf_counter()
        peak = proc_status_kib("VmHWM")
        store.delete(info.key)
    return MemoryResult(
        backend=name,
        size=size,
        baseline_kib=baseline,
        peak_kib=peak,
        ru_maxrss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        peak_reset=peak_reset,
        sha256_match=written.digest() == read.digest(),
        put_seconds=stored - started,
        get_seconds=finished - stored,
    )


def run_memory_child(name: str, memory_gib: float) -> MemoryResult:
    """Run :func:`memory_round_trip` in a fresh interpreter; it answers with one JSON line."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--memory-child",
        name,
        "--memory-gib",
        str(memory_gib),
    ]
    child = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"the memory child for {name} exited with {child.returncode}")
    return MemoryResult(**json.loads(child.stdout.strip().splitlines()[-1]))


# --- report -------------------------------------------------------------------------------------


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_facts(*, quick: bool) -> list[str]:
    """The common header, with the versions of the libraries measured here."""
    facts = machine_header(quick=quick)
    facts.insert(2, f"cryptography {cryptography.__version__}, minio {minio.__version__}")
    return facts


def format_throughput(comparisons: Sequence[Comparison], repeats: int) -> list[str]:
    header = (
        f"{'backend':<10} {'workload':<13} {'op':<8} {'raw':>7} {'store':>7} {'enc':>7} "
        f"{'enc/raw':>7} {'median':>6} {'store/raw':>9} {'CPU raw':>7} {'store':>5} {'enc':>5} "
        f"{'busy raw':>8} {'enc':>3}  target (enc/raw)"
    )
    lines = [
        f"Throughput, best of {repeats} runs each. raw, store, enc: MiB/s of plaintext, written",
        "without the store, through the store unencrypted, and encrypted through the store.",
        "enc/raw, store/raw: ratios of the best runs; median: enc/raw of the median runs.",
        "get warm / get cold (filesystem only): read with the file in the page cache (read once,",
        "untimed, just before), as right after the put, or after evicting it (fsync, then",
        "posix_fadvise DONTNEED, on the raw and on the stored file, before each timed read), as",
        "for a document read long after it was stored. The target applies to both. seaweed's",
        "get is whatever its server caches.",
        "CPU: client process time (user + system, all threads) per MiB, ms, median of the runs.",
        "busy: the whole machine's CPU in use during the runs, % of all cores, median; it counts",
        "every process (the S3 server runs on the same cores, and this machine is shared).",
        header,
        "-" * len(header),
    ]
    for c in comparisons:
        target = ""
        if c.workload.targeted:
            met = "met" if c.ratio_best() >= RATIO_TARGET else "NOT met"
            target = f">= {RATIO_TARGET:.2f}: {met}"
        raw, plain, enc = (c.runs[v] for v in VARIANTS)
        lines.append(
            f"{c.backend:<10} {c.workload.label:<13} {c.operation:<8} "
            f"{raw.best_mib_s():7.1f} {plain.best_mib_s():7.1f} {enc.best_mib_s():7.1f} "
            f"{c.ratio_best():7.2f} {c.ratio_median():6.2f} {c.ratio_best('store'):9.2f} "
            f"{raw.cpu_ms_per_mib():7.2f} {plain.cpu_ms_per_mib():5.2f} "
            f"{enc.cpu_ms_per_mib():5.2f} {raw.busy_percent():8.0f} {enc.busy_percent():3.0f}"
            f"  {target}"
        )
    return lines


def explain_misses(comparisons: Sequence[Comparison], encrypt: Runs, decrypt: Runs) -> list[str]:
    """Why a targeted ratio was missed: the cipher's own speed, or something else.

    With the store's I/O overlapped with the cipher work, an encrypted put or get takes at least
    as long as the longer of the two, so enc/raw cannot exceed (cipher alone) / raw. The cipher
    alone is the envelope measured in memory on one core, in the same run. A cold read has a
    tighter bound, measured in the same run: it does all the work of the encrypted warm read
    (reading from the page cache and decrypting, on one thread) and more, so it cannot be
    faster than that.
    """
    warm = {(c.backend, c.workload.label): c for c in comparisons if c.operation == "get warm"}
    lines: list[str] = []
    for c in comparisons:
        if not c.workload.targeted or c.ratio_best() >= RATIO_TARGET:
            continue
        raw, enc = c.runs["raw"], c.runs["encrypted"]
        name = f"{c.backend} {c.workload.label} {c.operation}"
        if c.operation == "put":
            limit, what = encrypt.best_mib_s(), "encryption alone runs at"
        elif c.operation == "get cold" and (c.backend, c.workload.label) in warm:
            limit = warm[c.backend, c.workload.label].runs["encrypted"].best_mib_s()
            what = "the encrypted warm read (the same reading and decrypting, minus the disk) at"
        else:
            limit, what = decrypt.best_mib_s(), "decryption alone runs at"
        bound = limit / raw.best_mib_s()
        memcpy = " (a page-cache memcpy)" if c.operation == "get warm" else ""
        if bound < RATIO_TARGET:
            lines.append(
                f"- {name}: bound by the cipher work. On one core, {what} {limit:.0f} MiB/s; "
                f"the raw baseline at {raw.best_mib_s():.0f} MiB/s{memcpy}. Even with the I/O "
                f"fully overlapped, enc/raw cannot exceed {bound:.2f} here."
            )
        else:
            lines.append(
                f"- {name}: not bound by the cipher work alone ({what} {limit:.0f} MiB/s, raw at "
                f"{raw.best_mib_s():.0f} MiB/s, so up to {min(bound, 1):.2f}). The rest is "
                f"cipher work that did not overlap the I/O, and noise: client CPU "
                f"{enc.cpu_ms_per_mib():.2f} ms/MiB encrypted vs {raw.cpu_ms_per_mib():.2f} raw, "
                f"machine {enc.busy_percent():.0f}% busy during the encrypted runs "
                f"({raw.busy_percent():.0f}% raw; at 100% there is no idle core left to overlap "
                f"on), median ratio {c.ratio_median():.2f}."
            )
    if lines:
        lines.insert(0, "Targets not met, and why:")
    return lines


def format_envelope(label: str, enc: Runs, dec: Runs) -> list[str]:
    return [
        f"Envelope alone, in memory, {label}, best of {len(enc.samples)}:",
        (
            f"  encrypt {enc.best_mib_s():7.1f} MiB/s ({enc.cpu_ms_per_mib():.2f} ms CPU/MiB),"
            f" decrypt {dec.best_mib_s():7.1f} MiB/s ({dec.cpu_ms_per_mib():.2f} ms CPU/MiB)"
        ),
    ]


def format_memory(results: Sequence[MemoryResult]) -> list[str]:
    header = (
        f"{'backend':<10} {'object':>7} {'baseline':>9} {'peak':>9} {'growth':>8} "
        f"{'ru_maxrss':>9} {'put s':>6} {'get s':>6}  {'sha256':<8} target"
    )
    lines = [
        "Memory, in MiB, of one encrypted put + get round trip in a fresh process. baseline:",
        "VmRSS after imports and store setup; peak: VmHWM after the round trip, reset at the",
        "baseline; growth = peak - baseline. ru_maxrss: the process's lifetime peak, which on",
        "Linux includes what the parent had when it forked (informational only).",
        header,
        "-" * len(header) + "-" * 12,
    ]
    for r in results:
        met = "met" if r.growth_mib < MEMORY_TARGET_MIB else "NOT met"
        note = "" if r.peak_reset else " (VmHWM not resettable: peak includes start-up)"
        lines.append(
            f"{r.backend:<10} {r.size / GiB:5.2f} G {r.baseline_kib / 1024:9.1f} "
            f"{r.peak_kib / 1024:9.1f} {r.growth_mib:8.1f} {r.ru_maxrss_kib / 1024:9.1f} "
            f"{r.put_seconds:6.1f} {r.get_seconds:6.1f}  "
            f"{'match' if r.sha256_match else 'DIFFERS':<8} < {MEMORY_TARGET_MIB}: {met}{note}"
        )
    return lines


# --- main ---------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="comma-separated, from: %(default)s",
    )
    add_quick(parser)
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory round trip")
    parser.add_argument("--large-mib", type=int, help="size of the large object: 256; 16 quick")
    parser.add_argument("--small-count", type=int, help="objects of 1 MiB: 100; 10 quick")
    parser.add_argument(
        "--memory-gib", type=float, help="object size of the memory round trip: 1; 0.125 quick"
    )
    parser.add_argument("--repeats", type=int, help="runs per throughput figure: 3; 1 quick")
    parser.add_argument("--memory-child", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    apply_sizes(
        args,
        large_mib=(256, 16),
        small_count=(100, 10),
        memory_gib=(1.0, 0.125),
        repeats=(3, 1),
    )
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown or not backends:
        parser.error(f"--backends takes a comma-separated subset of {', '.join(BACKENDS)}")
    if min(args.large_mib, args.small_count, args.repeats) < 1 or args.memory_gib * GiB < MiB:
        parser.error(
            "--large-mib, --small-count and --repeats must be >= 1, --memory-gib at least 1 MiB"
        )
    args.backends = backends
    return args


def run_throughput(backends: Sequence[str], args: argparse.Namespace) -> list[str]:
    settings = S3Settings.from_environment()
    large = args.large_mib * MiB
    small_count = args.small_count
    data = os.urandom(max(large, small_count * MiB))
    workloads = [
        Workload(
            f"{small_count} x 1 MiB",
            tuple(data[i * MiB : (i + 1) * MiB] for i in range(small_count)),
            targeted=False,
        ),
        Workload(f"1 x {args.large_mib} MiB", (data[:large],), targeted=True),
    ]
    comparisons: list[Comparison] = []
    for name in backends:
        print(f"Throughput on {name} ...", flush=True)
        with open_backend(name, settings) as backend:
            for workload in workloads:
                comparisons.extend(measure(backend, workload, args.repeats))
    print("Envelope alone ...", flush=True)
    enc, dec = measure_envelope(workloads[1].objects[0], args.repeats)
    misses = explain_misses(comparisons, enc, dec)
    return [
        *format_throughput(comparisons, args.repeats),
        "",
        *format_envelope(workloads[1].label, enc, dec),
        *(["", *misses] if misses else []),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    memory_size = int(args.memory_gib * GiB) // MiB * MiB
    if args.memory_child is not None:
        result = memory_round_trip(args.memory_child, memory_size, S3Settings.from_environment())
        print(json.dumps(asdict(result)))
        return 0

    started = time.perf_counter()
    facts = machine_facts(quick=args.quick)
    print("\n".join(facts), flush=True)
    # Memory first: a child inherits the parent's ru_maxrss across fork and exec, so it should
    # start before the parent holds the throughput data.
    memory: list[MemoryResult] = []
    if not args.skip_memory:
        for name in args.backends:
            print(f"Memory round trip of {memory_size / GiB:g} GiB on {name} ...", flush=True)
            memory.append(run_memory_child(name, args.memory_gib))
    report = run_throughput(args.backends, args)
    if memory:
        report += ["", *format_memory(memory)]

    print()
    print("=" * 100)
    print("\n".join(line for line in facts if not line.startswith("load average")))
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    print(f"S3 part size {PART_SIZE // MiB} MiB, num_parallel_uploads {NUM_PARALLEL_UPLOADS}")
    print()
    print("\n".join(report))
    print(f"\nTotal time: {time.perf_counter() - started:.0f} s", flush=True)
    if any(not r.sha256_match for r in memory):
        print("ERROR: a memory round trip read back different bytes than it wrote")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
