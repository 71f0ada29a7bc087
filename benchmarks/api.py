"""Benchmark of the documents API end to end: the hub as a server, against raw S3 beside it.

A benchmark, not a test: it prints figures and asserts nothing about time. It fails only when
the bytes read back are not the bytes written.

The hub runs as its own process, as deployed: ``ketenhub init --demo`` and then ``ketenhub
serve`` (uvicorn), on a scratch PostgreSQL database (created through ``--postgres ADMIN_URL``,
dropped at the end) and a fresh bucket on SeaweedFS, with ``KETENHUB_ENVIRONMENT=demo`` so the
demo clients of ``demo-credentials.json`` get their tokens with ``client_secret_basic``. IOM
uploads ``travel_document`` content (``%PDF-`` then random bytes); DTV downloads it (the demo
policy lets DTV read every travel document without a share). Uploads are streamed: the
multipart body is written by hand around a generator of the content, with its Content-Length,
so the client never joins a document into one body. Downloads stream
``GET /api/v1/documents/{id}/content`` and hash it; every SHA-256 must equal the upload's.

1. **Throughput**, hub against raw ``minio`` ``put_object`` / ``get_object`` of the same bytes
   on the same SeaweedFS, in a bucket of its own (with the part size of
   :class:`storage.objects.S3Store`, one part in flight, as ``benchmarks/storage.py`` does; the
   raw get is hashed too, as the hub's download is). One ``--large-mib`` (64) MiB document, and
   ``--small-count`` (100) documents of ``--small-kib`` (200) KiB one after another. Every
   figure is repeated ``--repeats`` (5) times, hub and raw interleaved and taking turns to go
   first; the **best** run counts (the least disturbed one on a shared machine), the ratio of
   the medians is shown beside it. Targets: hub / raw >= 0.8 for the large document, upload
   and download; for the small ones, hub uploads per second >= 0.5 x raw puts per second.
   Beside them, the median latency of ``GET /healthz`` (the HTTP round trip alone) and of a
   metadata ``GET`` (token, policy, one audit record, commit): the floor under every request.
2. **Memory** of the hub process during one ``--big-mib`` (1024) MiB upload (DTV, type
   ``case_info``, which allows 2 GiB) and one download of it. A thread samples the server's RSS
   every 50 ms (psutil); the kernel's own high-water mark (VmHWM, reset through
   ``/proc/PID/clear_refs`` at the baseline where allowed) catches what falls between samples.
   Growth = peak - baseline; target < 100 MiB. It runs after a small warm-up and before the
   other phases, so memory they leave in the allocator cannot hide growth.
3. **Concurrency**: ``--clients`` (32) clients for ``--seconds`` (60), half uploads and half
   downloads of 200 KiB to 2 MiB, on one asyncio loop (``httpx.AsyncClient``). Requests per
   second, MiB/s, p50 and p99 latency, errors. Target: no error, every SHA-256 matches.
4. **Policy**: the median of :meth:`hub.rules.Policy.decide` in process, on the demo policy
   and the mix of :mod:`benchmarks.policy` (which prints the full breakdown). Target <= 50 µs.

Every phase also shows where the CPU went: this client process, the hub's process, the whole
machine (the database and SeaweedFS share its cores), and how much of the time some task
waited for a CPU (Linux pressure stall information): a client near one core's worth of CPU
would be the bottleneck itself, and a machine near 100% stalled slows every hand-off between
the processes. The report ends with the targets, and the exceptions in the hub's log.

Run from the project root, with PostgreSQL and SeaweedFS running::

    .venv/bin/python benchmarks/api.py [--quick] [--large-mib 64] [--big-mib 1024]
        [--clients 32] [--seconds 60] [--repeats 5]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

``--quick`` is a smoke run with small sizes and 8 clients (unless ``--clients`` says
otherwise) that finishes within a minute. ``ADMIN_URL`` must name a role that may create
databases; the benchmark never writes to the database it names. The S3 endpoint and
credentials come from ``KETENHUB_TEST_S3_SEAWEED_*`` as in ``benchmarks/storage.py``. A full
run needs about 2 GiB of free space for SeaweedFS and takes about five minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import inspect
import io
import json
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

if __name__ == "__main__":
    # Run as a script, benchmarks/ comes first on sys.path, where storage.py and audit.py would
    # shadow the packages of those names: put the project root there instead.
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import httpx
import minio
import psutil
import psycopg
from minio import Minio
from psycopg import sql
from sqlalchemy.engine import make_url

from benchmarks import policy as policy_bench
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN
from hub.rules import Party, demo_policy_bytes, load_policy
from storage.objects import READ_CHUNK_SIZE, S3Store

MiB: Final = 1 << 20
KiB: Final = 1 << 10
API: Final = "/api/v1/documents"
RATIO_LARGE: Final = 0.8
RATIO_SMALL_UPLOADS: Final = 0.5
MEMORY_TARGET_MIB: Final = 100
POLICY_TARGET_US: Final = 50.0
SAMPLE_INTERVAL_S: Final = 0.05
V_NUMBER: Final = "1234567890"
DEFAULT_ADMIN_URL: Final = "postgresql://postgres@127.0.0.1:5432/test"
# Read from S3Store itself, so the raw baseline follows the hub's store if its default changes.
PART_SIZE: Final[int] = inspect.signature(S3Store).parameters["part_size"].default
# Throwaway credentials of the local test server (scripts/s3-test-servers); not secrets.
S3_DEFAULTS: Final = {
    "ENDPOINT": "http://127.0.0.1:7482",
    "ACCESS_KEY": "ketenhub-test",
    "SECRET_KEY": "ketenhub-test-secret",
}


def log_progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# --- where the CPU goes --------------------------------------------------------------------------


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all the machine's CPUs since boot, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values) - values[3] - values[4], sum(values)  # idle and iowait are not busy


def _cpu_s(times: Any) -> float:
    return float(times.user + times.system)


def _cpu_stall_us() -> int | None:
    """Microseconds that some task on this machine waited for a CPU (Linux PSI), or None."""
    try:
        first = Path("/proc/pressure/cpu").read_text().split("\n", 1)[0]
    except OSError:
        return None
    return int(first.rsplit("total=", 1)[1])


@dataclass(frozen=True, slots=True)
class Cpu:
    """One timed run: wall time, CPU of this client and of the hub, and the machine's load."""

    wall_s: float
    client_s: float
    server_s: float
    busy: float  # of all the machine's cores, 0 to 1
    stalled: float | None  # the share of the time some task waited for a CPU (PSI "some")


class Meter:
    """Times blocks of work, with the CPU the client and the hub process spent on them."""

    def __init__(self, server: psutil.Process) -> None:
        self.server = server

    @contextlib.contextmanager
    def run(self) -> Iterator[list[Cpu]]:
        out: list[Cpu] = []
        busy0, total0 = _machine_jiffies()
        stall0 = _cpu_stall_us()
        client0, server0 = _cpu_s(os.times()), _cpu_s(self.server.cpu_times())
        t0 = time.perf_counter()
        yield out
        wall = time.perf_counter() - t0
        client, server = _cpu_s(os.times()) - client0, _cpu_s(self.server.cpu_times()) - server0
        busy1, total1 = _machine_jiffies()
        stall1 = _cpu_stall_us()
        stalled = None if stall0 is None or stall1 is None else (stall1 - stall0) / 1e6 / wall
        busy = (busy1 - busy0) / max(1, total1 - total0)
        out.append(Cpu(wall, client, server, busy, stalled))


def describe_cpu(cpu: Cpu) -> str:
    return (
        f"{cpu.wall_s:.1f} s wall; CPU: client {cpu.client_s:.1f} s "
        f"({cpu.client_s / cpu.wall_s:.0%} of a core), hub {cpu.server_s:.1f} s "
        f"({cpu.server_s / cpu.wall_s:.0%} of a core), machine {cpu.busy:.0%} busy "
        f"of {os.cpu_count()} cores, {_stalled(cpu)} of the time a task waited for a CPU"
    )


def _stalled(cpu: Cpu) -> str:
    return "?" if cpu.stalled is None else f"{cpu.stalled:.0%}"


# --- the hub: scratch database, bucket, process, tokens ----------------------------------------


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A PostgreSQL database of the benchmark's own (SQLAlchemy URL), dropped afterwards."""
    name = f"ketenhub_bench_api_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


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


class Bucket:
    """A bucket through plain minio: the raw baseline's puts and gets, and the removal."""

    def __init__(self, s3: S3Settings, name: str) -> None:
        endpoint = urlsplit(s3.endpoint)
        self.name = name
        self.client = Minio(
            endpoint.netloc,
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            secure=endpoint.scheme == "https",
        )

    def put(self, data: bytes) -> str:
        """As S3Store puts: parts of its size, one upload in flight (see benchmarks/storage.py)."""
        key = f"raw-{secrets.token_hex(16)}"
        self.client.put_object(
            self.name, key, io.BytesIO(data), len(data), part_size=PART_SIZE, num_parallel_uploads=1
        )
        return key

    def sha256(self, key: str) -> str:
        """Stream the object back in the store's read size, hashed as the hub's download is."""
        digest = hashlib.sha256()
        response = self.client.get_object(self.name, key)
        try:
            for chunk in response.stream(READ_CHUNK_SIZE, decode_content=False):
                digest.update(chunk)
        finally:
            response.close()
            response.release_conn()
        return digest.hexdigest()

    def delete(self, key: str) -> None:
        self.client.remove_object(self.name, key)

    def drop(self) -> None:
        """Remove the bucket with everything in it, unfinished multipart uploads included."""
        if not self.client.bucket_exists(self.name):
            return
        # minio-py has no public ListMultipartUploads; benchmarks/storage.py uses these too.
        for upload in self.client._list_multipart_uploads(self.name).uploads:
            if upload.upload_id is not None:
                self.client._abort_multipart_upload(self.name, upload.object_name, upload.upload_id)
        for obj in self.client.list_objects(self.name, recursive=True):
            if obj.object_name is not None:
                self.client.remove_object(self.name, obj.object_name)
        self.client.remove_bucket(self.name)


@contextlib.contextmanager
def bucket_of_own(s3: S3Settings, prefix: str, *, create: bool) -> Iterator[Bucket]:
    """A fresh bucket name (created now, or later by the hub), removed with its contents."""
    bucket = Bucket(s3, f"{prefix}-{secrets.token_hex(6)}")
    if create:
        bucket.client.make_bucket(bucket.name)
    try:
        yield bucket
    finally:
        try:
            bucket.drop()
        except Exception as exc:  # noqa: BLE001 - warn; raising would hide the error that got here
            print(f"WARNING: could not remove bucket {bucket.name}: {exc}", file=sys.stderr)


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_facts() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    return [
        f"cores: {len(os.sched_getaffinity(0))} usable (os.cpu_count {os.cpu_count()}), CPU {cpu}",
        (
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
            f"httpx {httpx.__version__}, minio {minio.__version__}"
        ),
        f"load average (1, 5, 15 min) at the start: {load_average()}",
    ]


def _ketenhub() -> list[str]:
    script = Path(sys.executable).with_name("ketenhub")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from hub.cli import main; sys.exit(main())"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class HubProcess:
    base_url: str
    process: psutil.Process
    credentials: Path


@contextlib.contextmanager
def running_hub(
    *, database_url: str, bucket: str, s3: S3Settings, data_dir: Path
) -> Iterator[HubProcess]:
    """``ketenhub init --demo``, then ``ketenhub serve`` until the block ends (SIGTERM)."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("KETENHUB_")}
    env |= {
        "KETENHUB_ENVIRONMENT": "demo",
        "KETENHUB_DATA_DIR": str(data_dir),
        "KETENHUB_DATABASE_URL": database_url,
        "KETENHUB_STORAGE_URL": f"s3://{bucket}",
        "KETENHUB_S3_ENDPOINT": s3.endpoint,
        "KETENHUB_S3_ACCESS_KEY": s3.access_key,
        "KETENHUB_S3_SECRET_KEY": s3.secret_key,
        "KETENHUB_ISSUER": base_url,
    }
    init = subprocess.run(
        [*_ketenhub(), "init", "--demo"], env=env, capture_output=True, text=True, check=False
    )
    if init.returncode != 0:
        raise SystemExit(f"ketenhub init --demo exited {init.returncode}: {init.stderr[-2000:]}")
    log_file = data_dir / "serve.log"
    with log_file.open("wb") as log:
        # Into a file, not a pipe: a pipe nobody reads would block the server once it is full.
        serve = subprocess.Popen(
            [*_ketenhub(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            if serve.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text(errors="replace")[-3000:]
                raise SystemExit(f"ketenhub serve did not come up:\n{tail}")
            time.sleep(0.2)
        yield HubProcess(base_url, psutil.Process(serve.pid), data_dir / "demo-credentials.json")
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()


class Tokens:
    """Access tokens of the demo clients (client_secret_basic), renewed before they expire."""

    def __init__(self, hub: HubProcess) -> None:
        clients = json.loads(hub.credentials.read_text("utf-8"))["clients"]
        self._base_url = hub.base_url
        self._secrets = {
            c["organisation"]: (c["client_id"], c["client_secret"])
            for c in clients
            if "documents:read" in c["scopes"]
        }
        self._cache: dict[str, tuple[str, float]] = {}

    def header(self, organisation: str) -> dict[str, str]:
        """The Authorization header; a renewal is one blocking request, once per lifetime."""
        token, renew_at = self._cache.get(organisation, ("", 0.0))
        if time.monotonic() >= renew_at:
            response = httpx.post(
                f"{self._base_url}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=self._secrets[organisation],
            )
            response.raise_for_status()
            body = response.json()
            token = body["access_token"]
            self._cache[organisation] = (token, time.monotonic() + body["expires_in"] - 60)
        return {"Authorization": f"Bearer {token}"}


# --- streamed uploads and downloads --------------------------------------------------------------


def pdf_buffer(size: int) -> bytes:
    return b"%PDF-1.7\n" + os.urandom(size - 9)


def in_chunks(data: bytes, size: int = MiB) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield view[start : start + size]


def pdf_stream(size: int, sink: Callable[[bytes], object]) -> Iterator[bytes]:
    """``size`` bytes of PDF-looking content in 1 MiB chunks, each also given to ``sink``;
    rotations of one random block, so a GiB costs no GiB of memory (nor of os.urandom)."""
    block = os.urandom(MiB)
    for index, start in enumerate(range(0, size, MiB)):
        shift = (index * 7919) % MiB
        chunk = (block[shift:] + block[:shift])[: size - start]
        if index == 0:
            chunk = b"%PDF-1.7\n" + chunk[9:]
        sink(chunk)
        yield chunk


@dataclass(frozen=True, slots=True)
class Form:
    """A multipart/form-data upload, written by hand around the content so it can stream."""

    head: bytes
    tail: bytes
    headers: dict[str, str]

    @classmethod
    def of(cls, document_type: str, size: int) -> Form:
        boundary = f"ketenhub-bench-{secrets.token_hex(12)}"
        fields = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in (("document_type", document_type), ("v_number", V_NUMBER))
        )
        head = (
            f"{fields}--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="document.pdf"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        }
        return cls(head, tail, headers)

    def body(self, content: Iterable[bytes | memoryview]) -> Iterator[bytes | memoryview]:
        yield self.head
        yield from content
        yield self.tail


def upload(
    client: httpx.Client,
    tokens: Tokens,
    content: Iterable[bytes | memoryview],
    *,
    size: int,
    organisation: str = "IOM",
    document_type: str = "travel_document",
) -> dict[str, Any]:
    form = Form.of(document_type, size)
    response = client.post(
        API,
        content=form.body(content),  # type: ignore[arg-type]  # httpx sends any buffer
        headers={**form.headers, **tokens.header(organisation)},
    )
    if response.status_code != 201:
        raise SystemExit(f"upload failed: {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


def download(client: httpx.Client, tokens: Tokens, document_id: str) -> tuple[str, int]:
    """Stream a document's content as DTV; its SHA-256 (hex) and length."""
    digest, length = hashlib.sha256(), 0
    url = f"{API}/{document_id}/content"
    with client.stream("GET", url, headers=tokens.header("DTV")) as response:
        if response.status_code != 200:
            response.read()
            raise SystemExit(f"download failed: {response.status_code} {response.text[:500]}")
        for chunk in response.iter_raw():
            digest.update(chunk)
            length += len(chunk)
    return digest.hexdigest(), length


# --- 1. throughput, hub against raw --------------------------------------------------------------


@dataclass(slots=True)
class Comparison:
    workload: str
    operation: str
    unit: str  # what one run moves, for the rate: "MiB" or "docs"
    amount: float
    target: float | None
    hub: list[Cpu] = field(default_factory=list)
    raw: list[Cpu] = field(default_factory=list)

    def rate(self, side: str, pick: Callable[[list[float]], float] = min) -> float:
        runs = self.hub if side == "hub" else self.raw
        return self.amount / pick([r.wall_s for r in runs])

    def ratio(self, pick: Callable[[list[float]], float] = min) -> float:
        return self.rate("hub", pick) / self.rate("raw", pick)

    def met(self) -> bool:
        return self.target is None or self.ratio() >= self.target


def check(expected: str, actual: str, what: str) -> None:
    if expected != actual:
        raise SystemExit(f"SHA-256 mismatch on {what}: expected {expected}, got {actual}")


def measure_throughput(
    client: httpx.Client, tokens: Tokens, raw: Bucket, meter: Meter, args: Any
) -> list[Comparison]:
    large = pdf_buffer(args.large_mib * MiB)
    small = pdf_buffer(args.small_kib * KiB)
    large_sha, small_sha = hashlib.sha256(large).hexdigest(), hashlib.sha256(small).hexdigest()
    label_l, label_s = f"1 x {args.large_mib} MiB", f"{args.small_count} x {args.small_kib} KiB"
    up_l = Comparison(label_l, "upload", "MiB", args.large_mib, RATIO_LARGE)
    down_l = Comparison(label_l, "download", "MiB", args.large_mib, RATIO_LARGE)
    up_s = Comparison(label_s, "upload", "docs", args.small_count, RATIO_SMALL_UPLOADS)
    down_s = Comparison(label_s, "download", "docs", args.small_count, None)

    def timed(comparison: Comparison, side: str, work: Callable[[], list[str]]) -> list[str]:
        with meter.run() as timing:
            result = work()
        (comparison.hub if side == "hub" else comparison.raw).extend(timing)
        return result

    def hub_put(data: bytes, count: int) -> list[str]:
        return [upload(client, tokens, in_chunks(data), size=len(data))["id"] for _ in range(count)]

    def raw_put(data: bytes, count: int) -> list[str]:
        return [raw.put(data) for _ in range(count)]

    def hub_get(sha: str, ids: list[str]) -> list[str]:
        for document_id in ids:
            check(sha, download(client, tokens, document_id)[0], "a hub download")
        return ids

    def raw_get(sha: str, keys: list[str]) -> list[str]:
        for key in keys:
            check(sha, raw.sha256(key), "a raw get")
        return keys

    workloads = (
        (large, large_sha, 1, up_l, down_l),
        (small, small_sha, args.small_count, up_s, down_s),
    )
    for repeat in range(args.repeats):
        log_progress(f"throughput, run {repeat + 1} of {args.repeats}")
        sides = ("hub", "raw") if repeat % 2 == 0 else ("raw", "hub")  # take turns to go first
        for data, sha, count, up, down in workloads:
            # Both puts, then both gets: a get never directly follows its own put.
            stored: dict[str, list[str]] = {}
            for side in sides:
                put = functools.partial(hub_put if side == "hub" else raw_put, data, count)
                stored[side] = timed(up, side, put)
            for side in sides:
                get = functools.partial(hub_get if side == "hub" else raw_get, sha, stored[side])
                timed(down, side, get)
            for key in stored["raw"]:
                raw.delete(key)
    return [up_l, down_l, up_s, down_s]


def format_throughput(comparisons: Sequence[Comparison], repeats: int) -> list[str]:
    header = (
        f"{'workload':<16} {'op':<9} {'hub':>9} {'raw':>9} {'hub/raw':>7} {'median':>6} "
        f"{'client CPU hub/raw':>18} {'hub CPU':>7} {'busy':>5} {'stall':>5}  target (hub/raw)"
    )
    lines = [
        f"Throughput, best of {repeats} runs: MiB/s for the large document, documents/s for",
        "the small ones. median: hub/raw of the median runs. client CPU: the benchmark's own",
        "CPU time per run, % of its wall time (hub run / raw run); hub CPU: the hub process's;",
        "busy: the machine's CPUs during the hub runs (database and SeaweedFS included);",
        "stall: the share of that time some task on the machine waited for a CPU (PSI).",
        header,
        "-" * len(header),
    ]
    for c in comparisons:
        hub = min(c.hub, key=lambda r: r.wall_s)
        raw = min(c.raw, key=lambda r: r.wall_s)
        target = "(no target)"
        if c.target is not None:
            target = f">= {c.target:.1f}: {'met' if c.met() else 'NOT met'}"
        lines.append(
            f"{c.workload:<16} {c.operation:<9} {c.rate('hub'):9.1f} {c.rate('raw'):9.1f} "
            f"{c.ratio():7.2f} {c.ratio(statistics.median):6.2f} "
            f"{hub.client_s / hub.wall_s:>9.0%} /{raw.client_s / raw.wall_s:>5.0%}   "
            f"{hub.server_s / hub.wall_s:>7.0%} {hub.busy:>5.0%} {_stalled(hub):>5}  {target}"
        )
    return lines


def measure_floor(
    client: httpx.Client, tokens: Tokens, document_id: str, *, count: int
) -> dict[str, float]:
    """Median ms of the requests that do less than an upload: what every request costs."""
    requests: dict[str, Callable[[], httpx.Response]] = {
        "GET /healthz: the HTTP round trip alone (no token, no database)": (
            lambda: client.get("/healthz")
        ),
        "GET /api/v1/documents/{id}: + token check, policy, one audit record, commit": (
            lambda: client.get(f"{API}/{document_id}", headers=tokens.header("DTV"))
        ),
    }
    medians = {}
    for label, send in requests.items():
        samples = []
        for _ in range(count):
            t0 = time.perf_counter()
            response = send()
            samples.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise SystemExit(f"{label} answered {response.status_code}")
        medians[label] = statistics.median(samples) * 1000
    return medians


def format_floor(floor: dict[str, float], small: Sequence[Comparison]) -> list[str]:
    lines = ["Where a small request's time goes: ms per request, one client, sequential."]
    lines += [f"  {ms:7.2f}  {label} (median)" for label, ms in floor.items()]
    for c in small:
        per_doc = {side: 1000 / c.rate(side) for side in ("hub", "raw")}
        lines.append(
            f"  {per_doc['hub']:7.2f}  {c.operation} of {c.workload.split(' x ')[1]} through the "
            f"hub; raw minio {per_doc['raw']:.2f} (best run's mean)"
        )
    return lines


# --- 2. memory of the hub process --------------------------------------------------------------


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a thread; keeps the largest."""

    def __init__(self, process: psutil.Process, interval: float = SAMPLE_INTERVAL_S) -> None:
        self._process = process
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self.samples = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self.samples += 1
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def _status_kib(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {name} in /proc/{pid}/status")


@dataclass(frozen=True, slots=True)
class MemoryResult:
    operation: str
    baseline: int
    sampled_peak: int
    samples: int
    hwm_peak: int | None  # VmHWM, when it could be reset at the baseline
    cpu: Cpu

    @property
    def growth_mib(self) -> float:
        return (max(self.sampled_peak, self.hwm_peak or 0) - self.baseline) / MiB

    @property
    def met(self) -> bool:
        return self.growth_mib < MEMORY_TARGET_MIB


def watch_memory(
    hub: HubProcess, meter: Meter, operation: str, work: Callable[[], None]
) -> MemoryResult:
    pid = hub.process.pid
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := current RSS
        resettable = True
    except OSError:
        resettable = False
    baseline = hub.process.memory_info().rss
    with RssSampler(hub.process) as sampler, meter.run() as timing:
        work()
    hwm = _status_kib(pid, "VmHWM") * KiB if resettable else None
    return MemoryResult(operation, baseline, sampler.peak, sampler.samples, hwm, timing[0])


def measure_memory(
    client: httpx.Client, tokens: Tokens, hub: HubProcess, meter: Meter, size: int
) -> tuple[list[MemoryResult], str]:
    """The round trip of one ``size`` document; the results, and the document's id."""
    written = hashlib.sha256()
    uploaded: dict[str, Any] = {}

    def put() -> None:
        stream = pdf_stream(size, written.update)
        uploaded.update(
            upload(client, tokens, stream, size=size, organisation="DTV", document_type="case_info")
        )

    def get() -> None:
        sha, length = download(client, tokens, uploaded["id"])
        check(written.hexdigest(), sha, f"the {size / MiB:.0f} MiB download")
        if length != size:
            raise SystemExit(f"the download had {length} bytes, not {size}")

    log_progress(f"memory: one {size // MiB} MiB upload and download")
    results = [watch_memory(hub, meter, "upload", put)]
    check(written.hexdigest(), uploaded["sha256"], "the hub's sha256 of the big upload")
    results.append(watch_memory(hub, meter, "download", get))
    return results, str(uploaded["id"])


def format_memory(results: Sequence[MemoryResult], size: int) -> list[str]:
    lines = [
        f"Memory of the hub process (MiB) during one {size / MiB:.0f} MiB document: RSS sampled",
        (
            f"every {SAMPLE_INTERVAL_S * 1000:.0f} ms; VmHWM: the kernel's peak, reset at the "
            "baseline; growth = the larger peak - baseline."
        ),
        (
            f"{'operation':<10} {'baseline':>9} {'sampled':>8} {'VmHWM':>7} {'growth':>7} "
            f"{'MiB/s':>7}  target < {MEMORY_TARGET_MIB} MiB"
        ),
    ]
    for r in results:
        hwm = f"{r.hwm_peak / MiB:7.1f}" if r.hwm_peak is not None else f"{'n/a':>7}"
        met = "met" if r.met else "NOT met"
        lines.append(
            f"{r.operation:<10} {r.baseline / MiB:9.1f} {r.sampled_peak / MiB:8.1f} {hwm} "
            f"{r.growth_mib:7.1f} {size / MiB / r.cpu.wall_s:7.1f}  {met} "
            f"({r.samples} samples; {describe_cpu(r.cpu)})"
        )
    return lines


# --- 3. concurrent clients -----------------------------------------------------------------------


@dataclass(slots=True)
class Load:
    clients: int
    latency: dict[str, list[float]] = field(default_factory=lambda: {"upload": [], "download": []})
    bytes_moved: int = 0
    errors: list[str] = field(default_factory=list)
    mismatches: int = 0
    wall_s: float = 0.0


async def _async_upload(
    client: httpx.AsyncClient, header: dict[str, str], content: bytes
) -> dict[str, Any]:
    form = Form.of("travel_document", len(content))

    async def body() -> AsyncIterator[bytes]:
        for piece in form.body([content]):
            yield bytes(piece)

    response = await client.post(API, content=body(), headers={**form.headers, **header})
    if response.status_code != 201:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text[:200]}")
    result: dict[str, Any] = response.json()
    return result


async def _async_download(
    client: httpx.AsyncClient, header: dict[str, str], document_id: str
) -> tuple[str, int]:
    digest, length = hashlib.sha256(), 0
    async with client.stream("GET", f"{API}/{document_id}/content", headers=header) as response:
        if response.status_code != 200:
            raise RuntimeError(f"download answered {response.status_code}")
        async for chunk in response.aiter_raw():
            digest.update(chunk)
            length += len(chunk)
    return digest.hexdigest(), length


async def run_load(hub: HubProcess, tokens: Tokens, *, clients: int, seconds: float) -> Load:
    pool_bytes = os.urandom(2 * MiB)
    counter = iter(range(1 << 62))
    load = Load(clients)
    documents: list[tuple[str, str]] = []  # (id, sha256) of everything uploaded

    def content(rng: random.Random) -> bytes:
        size = rng.randint(200 * KiB, 2 * MiB)
        return f"%PDF-1.7\n%{next(counter):016d}\n".encode() + pool_bytes[: size - 27]

    async def one_upload(client: httpx.AsyncClient, data: bytes, sha: str) -> None:
        body = await _async_upload(client, tokens.header("IOM"), data)
        if body["sha256"] != sha:
            load.mismatches += 1
        documents.append((body["id"], sha))
        load.bytes_moved += len(data)

    async def one_download(client: httpx.AsyncClient, document_id: str, sha: str) -> None:
        got, length = await _async_download(client, tokens.header("DTV"), document_id)
        if got != sha:
            load.mismatches += 1
        load.bytes_moved += length

    async def worker(client: httpx.AsyncClient, seed: int, deadline: float) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            kind = "upload" if rng.random() < 0.5 else "download"
            if kind == "upload":  # the content and its hash are made before the clock starts
                data = content(rng)
                request = one_upload(client, data, hashlib.sha256(data).hexdigest())
            else:
                request = one_download(client, *rng.choice(documents))
            t0 = time.perf_counter()
            try:
                await request
            except (httpx.HTTPError, RuntimeError, KeyError) as exc:
                load.errors.append(f"{kind}: {exc!r}"[:300])
                continue
            load.latency[kind].append(time.perf_counter() - t0)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=hub.base_url, limits=limits, timeout=httpx.Timeout(120)
    ) as client:
        seeder = random.Random(0)
        for _ in range(clients):  # something to download from the first request on
            data = content(seeder)
            await one_upload(client, data, hashlib.sha256(data).hexdigest())
        load.bytes_moved = 0
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client, i, t0 + seconds) for i in range(clients)))
        load.wall_s = time.perf_counter() - t0
    return load


def format_load(load: Load, cpu: Cpu) -> list[str]:
    every = load.latency["upload"] + load.latency["download"]
    met = "met" if not load.errors and not load.mismatches else "NOT met"
    lines = [
        (
            f"Concurrency: {load.clients} clients for {load.wall_s:.0f} s, 50/50 uploads (IOM) and "
            "downloads (DTV), 200 KiB to 2 MiB each."
        ),
        (
            f"  {len(every) / load.wall_s:.1f} requests/s, "
            f"{load.bytes_moved / MiB / load.wall_s:.1f} MiB/s; {len(every)} requests, "
            f"{len(load.errors)} errors, {load.mismatches} SHA-256 mismatches: target 0 and 0: "
            f"{met}"
        ),
        f"  {describe_cpu(cpu)}",
        f"  {'latency ms':<10} {'count':>6} {'p50':>8} {'p99':>8} {'max':>8}",
    ]
    for kind, values in (*load.latency.items(), ("all", every)):
        if values:
            ms = [v * 1000 for v in values]
            lines.append(
                f"  {kind:<10} {len(ms):>6} {statistics.median(ms):8.1f} "
                f"{percentile(ms, 0.99):8.1f} {max(ms):8.1f}"
            )
    lines += [f"  error: {e}" for e in load.errors[:5]]
    return lines


# --- 4. policy -----------------------------------------------------------------------------------


def policy_median_us(iterations: int) -> float:
    """Median µs of Policy.decide over benchmarks/policy.py's mix of questions."""
    organisations = {seed.code: seed.kind for seed in CHAIN + DEMO_GEMEENTEN}
    policy = load_policy(demo_policy_bytes(), source="demo.yaml", organisations=organisations)
    parties = [Party(code, kind) for code, kind in organisations.items()]
    questions = policy_bench._questions(parties, iterations, seed=1)
    policy_bench._time_each(policy, questions[:10_000])  # warm-up
    return statistics.median(policy_bench._time_each(policy, questions)) / 1000


def format_targets(
    comparisons: Sequence[Comparison], memory: Sequence[MemoryResult], load: Load, policy_us: float
) -> list[str]:
    rows = [
        (f"{c.workload} {c.operation}, hub/raw", f"{c.ratio():.2f}", f">= {c.target}", c.met())
        for c in comparisons
        if c.target is not None
    ]
    rows += [
        (f"hub RSS growth, {r.operation}", f"{r.growth_mib:.1f} MiB", "< 100 MiB", r.met)
        for r in memory
    ]
    rows.append(
        (
            f"{load.clients} clients: errors, SHA-256 mismatches",
            f"{len(load.errors)}, {load.mismatches}",
            "0, 0",
            not load.errors and not load.mismatches,
        )
    )
    met = policy_us <= POLICY_TARGET_US
    rows.append(
        ("Policy.decide median", f"{policy_us:.2f} µs", f"<= {POLICY_TARGET_US:.0f} µs", met)
    )
    lines = [f"{'Targets':<44} {'measured':>12} {'target':>11}"]
    lines += [
        f"{name:<44} {measured:>12} {target:>11}  {'met' if ok else 'NOT met'}"
        for name, measured, target, ok in rows
    ]
    return lines


def log_errors(log: str) -> list[str]:
    """The hub log's tracebacks, counted by their exception line."""
    lines = log.splitlines()
    seen: dict[str, int] = {}
    for index, line in enumerate(lines):
        if line.startswith("Traceback"):
            last = next((x for x in lines[index + 1 :] if not x.startswith(" ")), "?")
            seen[last] = seen.get(last, 0) + 1
    return [
        f"  {count} x {line[:300]}" for line, count in sorted(seen.items(), key=lambda i: -i[1])
    ]


# --- main ----------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute")
    parser.add_argument("--large-mib", type=int, default=64, help="the large document")
    parser.add_argument("--small-kib", type=int, default=200, help="the small documents")
    parser.add_argument("--small-count", type=int, default=100, help="small documents per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per throughput figure")
    parser.add_argument("--big-mib", type=int, default=1024, help="the memory phase's document")
    parser.add_argument("--clients", type=int, default=None, help="32; 8 with --quick")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--policy-iterations", type=int, default=200_000)
    parser.add_argument("--postgres", default=DEFAULT_ADMIN_URL, metavar="ADMIN_URL")
    args = parser.parse_args(argv)
    if args.quick:
        args.large_mib, args.small_count, args.repeats = 8, 20, 1
        args.big_mib, args.seconds, args.policy_iterations = 64, 5.0, 20_000
    if args.clients is None:
        args.clients = 8 if args.quick else 32
    if min(args.large_mib, args.small_count, args.repeats, args.big_mib, args.clients) < 1:
        parser.error("sizes and counts must be at least 1")
    if not 1 <= args.small_kib <= 256 * KiB or args.big_mib > 2048:
        parser.error("--small-kib must be 1 to 262144, --big-mib at most 2048 (case_info's limit)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    started = time.perf_counter()
    facts = machine_facts()
    print("\n".join(facts), flush=True)
    s3 = S3Settings.from_environment()
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(scratch_database(args.postgres))
        hub_bucket = stack.enter_context(bucket_of_own(s3, "ketenhub-bench-api", create=False))
        raw = stack.enter_context(bucket_of_own(s3, "ketenhub-bench-raw", create=True))
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ketenhub-api-")))
        log_progress("ketenhub init --demo, then ketenhub serve")
        hub = stack.enter_context(
            running_hub(database_url=database_url, bucket=hub_bucket.name, s3=s3, data_dir=data_dir)
        )
        tokens = Tokens(hub)
        meter = Meter(hub.process)
        client = stack.enter_context(httpx.Client(base_url=hub.base_url, timeout=600))
        warm = pdf_buffer(64 * KiB)
        for _ in range(3):  # connections, caches and lazy imports, before anything is measured
            check(hashlib.sha256(warm).hexdigest(), download(client, tokens, upload(
                client, tokens, [warm], size=len(warm))["id"])[0], "the warm-up")  # fmt: skip
        memory, memory_document = measure_memory(client, tokens, hub, meter, args.big_mib * MiB)
        comparisons = measure_throughput(client, tokens, raw, meter, args)
        floor = measure_floor(client, tokens, memory_document, count=args.small_count)
        log_progress(f"{args.clients} concurrent clients for {args.seconds:g} s")
        with meter.run() as timing:
            load = asyncio.run(run_load(hub, tokens, clients=args.clients, seconds=args.seconds))
        server_log = (data_dir / "serve.log").read_text(errors="replace")
    log_progress("policy decisions")
    policy_us = policy_median_us(args.policy_iterations)

    print()
    print("=" * 100)
    print("\n".join(facts))
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    for section in (
        format_throughput(comparisons, args.repeats),
        format_floor(floor, [c for c in comparisons if c.unit == "docs"]),
        format_memory(memory, args.big_mib * MiB),
        format_load(load, timing[0]),
    ):
        print()
        print("\n".join(section))
    print()
    print("\n".join(format_targets(comparisons, memory, load, policy_us)))
    print(
        "\n".join(
            [f"\nhub log: {server_log.count('Traceback')} tracebacks", *log_errors(server_log)]
        )
    )
    print(f"total time {time.perf_counter() - started:.0f} s")
    return 1 if load.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
