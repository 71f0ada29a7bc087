"""Benchmark of the documents API end to end: the hub as a server, against raw S3 and a reference.

A benchmark, not a test: it prints figures and asserts nothing about time. It fails (exit 1)
only when the bytes read back are not the bytes written; a missed target is printed as MISS.

Three servers, one client stack. The hub runs as its own process, as deployed: ``ketenhub init
--demo`` and then ``ketenhub serve``, on a scratch PostgreSQL database (created through
``--postgres ADMIN_URL``, dropped at the end) and a fresh bucket on SeaweedFS, with
``KETENHUB_ENVIRONMENT=demo`` so the demo clients of ``demo-credentials.json`` get their tokens
with ``client_secret_basic``. *Raw* is plain ``minio`` ``put_object`` / ``get_object`` of the same
bytes on the same SeaweedFS, in a bucket of its own (the part size of
:class:`storage.objects.S3Store`, one part in flight, as ``benchmarks/storage.py`` does). The
*reference* is :mod:`benchmarks.reference_proxy`: a minimal Starlette app on uvicorn that reads
an object in the hub's envelope format from that bucket and decrypts it, one thread hop, one
1 MiB read and one AES-GCM segment per MiB, nothing else: what any server that decrypts what it
serves can reach on this machine. Every byte the hub or the reference serves crosses the
machine twice more than a raw get, on the cores SeaweedFS and this client share.

All three are read and written through urllib3, the stack minio itself uses: the hub and the
reference through a ``urllib3.PoolManager`` (the hub with the bearer token), raw S3 through
minio; every download is read in 1 MiB pieces and hashed, on every side, and every SHA-256 must
equal the upload's. Uploads stream: the multipart body is written by hand around a generator of
the content, with its Content-Length, so no document is ever joined into one body. IOM uploads
``travel_document`` content (``%PDF-`` then random bytes); DTV downloads it (the demo policy lets
DTV read every travel document without a share).

1. **Throughput** (``--large-mib``, default 64 and 256 MiB, one document each; and
   ``--small-count`` (100) documents of ``--small-kib`` (200) KiB one after another): hub upload
   against raw put; hub download against raw get and the reference. Every figure is repeated
   ``--repeats`` (5) times, the sides interleaved and taking turns to go first; the **best** run
   counts (the least disturbed one on a shared machine), the ratio of the medians is shown
   beside it. Targets: download hub / reference >= 0.9 (goal 1.0; hub / raw and reference / raw
   printed beside it); upload hub / raw >= 0.8; 200 KiB uploads per second hub / raw >= 0.5,
   downloads per second hub / raw >= 0.4 (goal 0.5).
2. **The request floor**: the median of ``GET /healthz`` (the HTTP round trip alone) and of a
   metadata ``GET /api/v1/documents/{id}`` (token, policy, one audit record, commit), one client,
   sequential. Target: metadata <= 3 x healthz.
3. **CPU per GiB downloaded**: the hub's CPU seconds (all its processes: every worker) over the
   large downloads, per GiB, beside the floor measured in this process in the same run: AES-GCM
   decryption of 1 MiB segments plus SHA-256 of the same bytes. Target <= 3 x the floor. The
   reference's figure is printed beside it.
4. **Memory** of the hub (RSS summed over its processes) during one ``--big-mib`` (1024) MiB
   upload (DTV, type ``case_info``, which allows 2 GiB) and one download of it. A thread samples
   RSS every 50 ms (psutil); the kernel's high-water mark (VmHWM, reset through
   ``/proc/PID/clear_refs`` at the baseline where allowed) catches what falls between samples.
   Growth = peak - baseline; target < 100 MiB. It runs after a small warm-up and before the other
   phases, so memory they leave in the allocator cannot hide growth.
5. **Concurrency**: ``--clients`` (32) client threads for ``--seconds`` (60), half uploads and
   half downloads of 200 KiB to 2 MiB, through one urllib3 pool. Requests per second, MiB/s, p50
   and p99 latency. Target: no error, every SHA-256 matches.
6. **Policy**: the median of :meth:`hub.rules.Policy.decide` in process, on the demo policy and
   the mix of :mod:`benchmarks.policy`. Target <= 50 µs.

The audit append under 8 and 32 writers is ``benchmarks/audit.py``'s (beside the bare
lock-insert-commit loop); this script does not repeat it.

Every phase also shows where the CPU went: this client process, the hub's processes, the whole
machine (the database and SeaweedFS share its cores), and how much of the time some task waited
for a CPU (Linux pressure stall information). The report ends with the targets (PASS or MISS),
and the exceptions in the hub's log. ``--json FILE`` writes every figure to FILE as well.

Run from the project root, with PostgreSQL and SeaweedFS running::

    .venv/bin/python benchmarks/api.py [--quick] [--workers N] [--json FILE]
        [--large-mib 64,256] [--big-mib 1024] [--clients 32] [--seconds 60] [--repeats 5]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]
        [--hub-src DIR] [--hub-python PATH] [--skip memory,load]

``--quick`` is a smoke run with small sizes (8 MiB, 20 small documents, 64 MiB for memory, 8
clients for 5 s) that finishes within a minute. ``--workers N`` starts ``ketenhub serve
--workers N`` (and sets ``KETENHUB_WORKERS``); with 1, the default, the option is left out, so an
older hub without it runs too. ``--hub-src DIR`` runs the hub of another checkout (``python -m
hub.cli`` in DIR, with DIR first on ``PYTHONPATH``; ``KETENHUB_BENCH_HUB_SRC``), with
``--hub-python`` (``KETENHUB_BENCH_HUB_PYTHON``; default: this interpreter), so the same benchmark
measures an earlier commit for a before/after table. ``ADMIN_URL`` must name a role that may
create databases; the benchmark never writes to the database it names. The S3 endpoint and
credentials come from ``KETENHUB_TEST_S3_SEAWEED_*`` as in ``benchmarks/storage.py``. A full run
needs about 4 GiB of free space for SeaweedFS and takes six to ten minutes.
"""

from __future__ import annotations

import argparse
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
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

if __name__ == "__main__":
    # Run as a script, benchmarks/ comes first on sys.path, where storage.py and audit.py would
    # shadow the packages of those names: put the project root there instead.
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import minio
import psutil
import psycopg
import urllib3
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from minio import Minio
from psycopg import sql
from sqlalchemy.engine import make_url

from benchmarks import policy as policy_bench
from benchmarks import reference_proxy
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN
from hub.rules import Party, demo_policy_bytes, load_policy
from storage.envelope import SEGMENT_PLAINTEXT, encrypt
from storage.objects import S3Store

ROOT: Final = Path(__file__).resolve().parent.parent
MiB: Final = 1 << 20
KiB: Final = 1 << 10
GiB: Final = 1 << 30
API: Final = "/api/v1/documents"
READ_SIZE: Final = MiB  # every download, on every side, is read in pieces of this size
RATIO_DOWNLOAD_REF: Final = 0.9  # hub / reference, large downloads (goal 1.0)
RATIO_UPLOAD: Final = 0.8  # hub / raw, large uploads
RATIO_SMALL_UPLOADS: Final = 0.5  # hub / raw, small uploads per second
RATIO_SMALL_DOWNLOADS: Final = 0.4  # hub / raw, small downloads per second (goal 0.5)
FLOOR_RATIO: Final = 3.0  # metadata GET median <= this x GET /healthz median
CPU_RATIO: Final = 3.0  # hub CPU per GiB downloaded <= this x the in-process floor
MEMORY_TARGET_MIB: Final = 100
POLICY_TARGET_US: Final = 50.0
SAMPLE_INTERVAL_S: Final = 0.05
V_NUMBER: Final = "1234567890"
DEFAULT_ADMIN_URL: Final = "postgresql://postgres@127.0.0.1:5432/test"
# Read from S3Store itself, so the raw baseline follows the hub's store if its default changes.
PART_SIZE: Final[int] = inspect.signature(S3Store).parameters["part_size"].default
S3_DEFAULTS: Final = reference_proxy.S3_DEFAULTS


def log_progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# --- where the CPU and the memory go ------------------------------------------------------------


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


def _status_kib(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {name} in /proc/{pid}/status")


class ProcessTree:
    """A server process and every process under it (uvicorn's workers): CPU and RSS summed."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)

    def processes(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _sum(self, measure: Callable[[psutil.Process], float]) -> float:
        total = 0.0
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, OSError):
                total += measure(process)
        return total

    def cpu_s(self) -> float:
        return self._sum(lambda p: _cpu_s(p.cpu_times()))

    def rss(self) -> int:
        return int(self._sum(lambda p: p.memory_info().rss))

    def reset_hwm(self) -> bool:
        """Reset every process's VmHWM to its current RSS; False where the kernel refuses."""
        try:
            for process in self.processes():
                Path(f"/proc/{process.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def hwm(self) -> int:
        """The sum of the processes' VmHWM: an upper bound of their joint peak."""
        return int(self._sum(lambda p: _status_kib(p.pid, "VmHWM") * KiB))


@dataclass(frozen=True, slots=True)
class Cpu:
    """One timed run: wall time, CPU of this client and of the server, the machine's load."""

    wall_s: float
    client_s: float
    server_s: float  # the server process tree's (0 for raw S3: SeaweedFS is not counted)
    busy: float  # of all the machine's cores, 0 to 1
    stalled: float | None  # the share of the time some task waited for a CPU (PSI "some")


@contextlib.contextmanager
def metered(server: ProcessTree | None) -> Iterator[list[Cpu]]:
    """Time a block; the list it yields holds its :class:`Cpu` once the block has ended."""
    out: list[Cpu] = []
    busy0, total0 = _machine_jiffies()
    stall0 = _cpu_stall_us()
    client0 = _cpu_s(os.times())
    server0 = server.cpu_s() if server is not None else 0.0
    t0 = time.perf_counter()
    yield out
    wall = time.perf_counter() - t0
    client = _cpu_s(os.times()) - client0
    used = server.cpu_s() - server0 if server is not None else 0.0
    busy1, total1 = _machine_jiffies()
    stall1 = _cpu_stall_us()
    stalled = None if stall0 is None or stall1 is None else (stall1 - stall0) / 1e6 / wall
    busy = (busy1 - busy0) / max(1, total1 - total0)
    out.append(Cpu(wall, client, used, busy, stalled))


def describe_cpu(cpu: Cpu, server: str = "hub") -> str:
    return (
        f"{cpu.wall_s:.1f} s wall; CPU: client {cpu.client_s:.1f} s "
        f"({cpu.client_s / cpu.wall_s:.0%} of a core), {server} {cpu.server_s:.1f} s "
        f"({cpu.server_s / cpu.wall_s:.0%} of a core), machine {cpu.busy:.0%} busy "
        f"of {os.cpu_count()} cores, {_stalled(cpu)} of the time a task waited for a CPU"
    )


def _stalled(cpu: Cpu) -> str:
    return "?" if cpu.stalled is None else f"{cpu.stalled:.0%}"


# --- the servers: scratch database, buckets, processes, tokens ----------------------------------


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
    """A bucket through plain minio: the raw side's puts and gets, the reference's objects."""

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

    def put_envelope(self, data: bytes, dek: bytes) -> str:
        """Store ``data`` encrypted as the hub stores it, for the reference proxy (untimed)."""
        key = str(uuid.uuid4())
        binding = reference_proxy.binding(key, dek)
        ciphertext = b"".join(encrypt(in_chunks(data), dek, binding))
        self.client.put_object(
            self.name,
            key,
            io.BytesIO(ciphertext),
            len(ciphertext),
            part_size=PART_SIZE,
            num_parallel_uploads=1,
        )
        return key

    def sha256(self, key: str) -> str:
        """Stream the object back in 1 MiB pieces, hashed as the hub's download is."""
        digest = hashlib.sha256()
        response = self.client.get_object(self.name, key)
        try:
            for chunk in response.stream(READ_SIZE, decode_content=False):
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


def _git_commit(directory: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(directory), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip()[:100] or "?"


def machine_facts(args: argparse.Namespace) -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    quick = ["--quick: a smoke run on small sizes; do not compare with full runs"]
    return [
        f"cores: {len(os.sched_getaffinity(0))} usable (os.cpu_count {os.cpu_count()}), CPU {cpu}",
        (
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
            f"urllib3 {metadata.version('urllib3')}, minio {minio.__version__}"
        ),
        f"hub: {args.hub_src} ({_git_commit(args.hub_src)}), workers {args.workers}",
        f"benchmark: {ROOT} ({_git_commit(ROOT)})",
        f"load average (1, 5, 15 min) at the start: {load_average()}",
        *(quick if args.quick else []),
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Server:
    base_url: str
    tree: ProcessTree
    log: Path


@contextlib.contextmanager
def running(
    command: list[str], *, env: dict[str, str], cwd: Path, port: int, log_file: Path, name: str
) -> Iterator[Server]:
    """Run a server until the block ends (SIGTERM), once its ``/healthz`` answers 200."""
    base_url = f"http://127.0.0.1:{port}"
    with log_file.open("wb") as log:
        # Into a file, not a pipe: a pipe nobody reads would block the server once it is full.
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        probe = urllib3.PoolManager(retries=False, timeout=2.0)
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(urllib3.exceptions.HTTPError):
                if probe.request("GET", f"{base_url}/healthz").status == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} did not come up:\n{tail}")
            time.sleep(0.2)
        yield Server(base_url, ProcessTree(process.pid), log_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _with_path(env: dict[str, str], directory: Path) -> dict[str, str]:
    paths = [str(directory), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return env | {"PYTHONPATH": os.pathsep.join(paths)}


@contextlib.contextmanager
def running_hub(
    args: argparse.Namespace, *, database_url: str, bucket: str, s3: S3Settings, data_dir: Path
) -> Iterator[Server]:
    """``ketenhub init --demo``, then ``ketenhub serve`` of ``--hub-src`` until the block ends.

    ``python -m hub.cli`` in that directory, not the ``ketenhub`` script: the script's package
    is whatever checkout the virtualenv was installed from, not necessarily the one measured.
    """
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("KETENHUB_")}
    env = _with_path(env, args.hub_src) | {
        "KETENHUB_ENVIRONMENT": "demo",
        "KETENHUB_DATA_DIR": str(data_dir),
        "KETENHUB_DATABASE_URL": database_url,
        "KETENHUB_STORAGE_URL": f"s3://{bucket}",
        "KETENHUB_S3_ENDPOINT": s3.endpoint,
        "KETENHUB_S3_ACCESS_KEY": s3.access_key,
        "KETENHUB_S3_SECRET_KEY": s3.secret_key,
        "KETENHUB_ISSUER": f"http://127.0.0.1:{port}",
        # Settings ignore variables they do not know, so a hub without workers runs as before.
        "KETENHUB_WORKERS": str(args.workers),
    }
    hub = [str(args.hub_python), "-m", "hub.cli"]
    init = subprocess.run(
        [*hub, "init", "--demo"],
        env=env,
        cwd=args.hub_src,
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise SystemExit(f"ketenhub init --demo exited {init.returncode}: {init.stderr[-2000:]}")
    serve = [*hub, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if args.workers != 1:  # left out otherwise, so a hub that has no such option runs too
        serve += ["--workers", str(args.workers)]
    with running(
        serve,
        env=env,
        cwd=args.hub_src,
        port=port,
        log_file=data_dir / "serve.log",
        name="ketenhub serve",
    ) as server:
        yield server


@contextlib.contextmanager
def running_reference(
    *, bucket: str, s3: S3Settings, dek: bytes, data_dir: Path
) -> Iterator[Server]:
    port = _free_port()
    env = _with_path(dict(os.environ), ROOT) | {
        "REFERENCE_PROXY_BUCKET": bucket,
        "REFERENCE_PROXY_DEK": dek.hex(),
        "KETENHUB_TEST_S3_SEAWEED_ENDPOINT": s3.endpoint,
        "KETENHUB_TEST_S3_SEAWEED_ACCESS_KEY": s3.access_key,
        "KETENHUB_TEST_S3_SEAWEED_SECRET_KEY": s3.secret_key,
    }
    command = [sys.executable, "-m", "benchmarks.reference_proxy", "--port", str(port)]
    log_file = data_dir / "reference.log"
    with running(
        command, env=env, cwd=ROOT, port=port, log_file=log_file, name="the reference proxy"
    ) as server:
        yield server


class Http:
    """One urllib3 pool to one server; no retries (a streamed body cannot be sent twice)."""

    def __init__(self, base_url: str, *, connections: int = 1) -> None:
        self.base_url = base_url
        self.pool = urllib3.PoolManager(
            maxsize=connections,
            block=True,
            retries=False,
            timeout=urllib3.Timeout(connect=10.0, read=600.0),
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        stream: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        return self.pool.urlopen(
            method,
            self.base_url + path,
            headers=headers,
            body=body,
            preload_content=not stream,
            redirect=False,
        )


class Tokens:
    """Access tokens of the demo clients (client_secret_basic), renewed before they expire."""

    def __init__(self, hub: Server, credentials: Path) -> None:
        clients = json.loads(credentials.read_text("utf-8"))["clients"]
        self._http = Http(hub.base_url)
        self._secrets = {
            c["organisation"]: (c["client_id"], c["client_secret"])
            for c in clients
            if "documents:read" in c["scopes"]
        }
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def header(self, organisation: str) -> dict[str, str]:
        """The Authorization header; a renewal is one blocking request, once per lifetime."""
        with self._lock:
            token, renew_at = self._cache.get(organisation, ("", 0.0))
            if time.monotonic() >= renew_at:
                client_id, secret = self._secrets[organisation]
                headers = urllib3.make_headers(basic_auth=f"{client_id}:{secret}")
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                response = self._http.request(
                    "POST",
                    "/oauth/token",
                    headers=headers,
                    body=urlencode({"grant_type": "client_credentials"}),
                )
                if response.status != 200:
                    raise SystemExit(f"token request answered {response.status}")
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


class BenchError(Exception):
    """A request answered otherwise than it should have."""


def upload(
    http: Http,
    tokens: Tokens,
    content: Iterable[bytes | memoryview],
    *,
    size: int,
    organisation: str = "IOM",
    document_type: str = "travel_document",
) -> dict[str, Any]:
    form = Form.of(document_type, size)
    headers = {**form.headers, **tokens.header(organisation)}
    response = http.request("POST", API, headers=headers, body=form.body(content))
    if response.status != 201:
        text = response.data[:500].decode(errors="replace")
        raise BenchError(f"upload answered {response.status}: {text}")
    body: dict[str, Any] = response.json()
    return body


def stream_sha256(http: Http, path: str, headers: dict[str, str] | None = None) -> tuple[str, int]:
    """GET ``path``, read in 1 MiB pieces; the body's SHA-256 (hex) and length."""
    digest, length = hashlib.sha256(), 0
    response = http.request("GET", path, headers=headers, stream=True)
    try:
        if response.status != 200:
            text = response.read()[:500].decode(errors="replace")
            raise BenchError(f"GET {path} answered {response.status}: {text}")
        for chunk in response.stream(READ_SIZE, decode_content=False):
            digest.update(chunk)
            length += len(chunk)
    finally:
        response.release_conn()
    return digest.hexdigest(), length


def download(http: Http, tokens: Tokens, document_id: str) -> tuple[str, int]:
    """Stream a document's content as DTV; its SHA-256 (hex) and length."""
    return stream_sha256(http, f"{API}/{document_id}/content", tokens.header("DTV"))


def check(expected: str, actual: str, what: str) -> None:
    if expected != actual:
        raise SystemExit(f"SHA-256 mismatch on {what}: expected {expected}, got {actual}")


# --- 1. throughput: hub, raw and reference -------------------------------------------------------


@dataclass(slots=True)
class Comparison:
    """One workload and operation, timed on two or three sides over the repeats."""

    workload: str
    operation: str
    unit: str  # what one run moves, for the rate: "MiB" or "docs"
    amount: float
    sides: tuple[str, ...]
    target: tuple[str, str, float] | None  # (side, against side, least ratio)
    runs: dict[str, list[Cpu]] = field(default_factory=dict)

    def rate(self, side: str, pick: Callable[[list[float]], float] = min) -> float:
        return self.amount / pick([r.wall_s for r in self.runs[side]])

    def ratio(self, side: str, base: str, pick: Callable[[list[float]], float] = min) -> float:
        return self.rate(side, pick) / self.rate(base, pick)

    def best(self, side: str) -> Cpu:
        return min(self.runs[side], key=lambda r: r.wall_s)

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "workload": self.workload,
            "operation": self.operation,
            "unit": f"{self.unit}/s",
            "runs": {side: [asdict(r) for r in runs] for side, runs in self.runs.items()},
        }
        for side in self.sides:
            out[f"{side}_best"] = self.rate(side)
            out[f"{side}_median"] = self.rate(side, statistics.median)
        for side, base in (("hub", "raw"), ("ref", "raw"), ("hub", "ref")):
            if side in self.sides and base in self.sides:
                out[f"{side}/{base}"] = self.ratio(side, base)
                out[f"{side}/{base}_median"] = self.ratio(side, base, statistics.median)
        return out


@dataclass(frozen=True, slots=True)
class Servers:
    hub: Server
    ref: Server
    hub_http: Http
    ref_http: Http
    tokens: Tokens
    raw: Bucket
    dek: bytes  # the reference's objects' data key


def measure_throughput(servers: Servers, args: argparse.Namespace) -> list[Comparison]:
    tokens, raw, dek = servers.tokens, servers.raw, servers.dek
    workloads: list[tuple[bytes, int, Comparison, Comparison]] = []
    for mib in args.large_mib:
        label = f"1 x {mib} MiB"
        workloads.append(
            (
                pdf_buffer(mib * MiB),
                1,
                Comparison(
                    label, "upload", "MiB", mib, ("hub", "raw"), ("hub", "raw", RATIO_UPLOAD)
                ),
                Comparison(
                    label,
                    "download",
                    "MiB",
                    mib,
                    ("hub", "raw", "ref"),
                    ("hub", "ref", RATIO_DOWNLOAD_REF),
                ),
            )
        )
    count = args.small_count
    label = f"{count} x {args.small_kib} KiB"
    workloads.append(
        (
            pdf_buffer(args.small_kib * KiB),
            count,
            Comparison(
                label, "upload", "docs", count, ("hub", "raw"), ("hub", "raw", RATIO_SMALL_UPLOADS)
            ),
            Comparison(
                label,
                "download",
                "docs",
                count,
                ("hub", "raw", "ref"),
                ("hub", "raw", RATIO_SMALL_DOWNLOADS),
            ),
        )
    )
    log_progress("throughput: the reference proxy's objects (encrypted, untimed)")
    ref_keys = {
        id(data): [raw.put_envelope(data, dek) for _ in range(n)]
        for data, n, _up, _down in workloads
    }
    small_data, small_sha = workloads[-1][0], hashlib.sha256(workloads[-1][0]).hexdigest()
    for key in ref_keys[id(small_data)][:3]:  # the proxy's imports and connections, untimed
        check(small_sha, stream_sha256(servers.ref_http, f"/objects/{key}")[0], "a warm-up")
        raw_key = raw.put(small_data)
        check(small_sha, raw.sha256(raw_key), "a warm-up")
        raw.delete(raw_key)
    trees = {"hub": servers.hub.tree, "ref": servers.ref.tree, "raw": None}

    def timed(comparison: Comparison, side: str, work: Callable[[], list[str]]) -> list[str]:
        with metered(trees[side]) as timing:
            result = work()
        comparison.runs.setdefault(side, []).extend(timing)
        return result

    def put(side: str, data: bytes, n: int) -> Callable[[], list[str]]:
        if side == "hub":
            return lambda: [
                upload(servers.hub_http, tokens, in_chunks(data), size=len(data))["id"]
                for _ in range(n)
            ]
        return lambda: [raw.put(data) for _ in range(n)]

    def get(side: str, sha: str, keys: list[str]) -> Callable[[], list[str]]:
        def work() -> list[str]:
            for key in keys:
                if side == "hub":
                    got = download(servers.hub_http, tokens, key)[0]
                elif side == "ref":
                    got = stream_sha256(servers.ref_http, f"/objects/{key}")[0]
                else:
                    got = raw.sha256(key)
                check(sha, got, f"a {side} download")
            return keys

        return work

    order = ("hub", "raw", "ref")
    for repeat in range(args.repeats):
        log_progress(f"throughput, run {repeat + 1} of {args.repeats}")
        sides = order[repeat % 3 :] + order[: repeat % 3]  # take turns to go first
        for data, n, up, down in workloads:
            sha = hashlib.sha256(data).hexdigest()
            # Both puts, then the gets: a get never directly follows its own put.
            stored = {"ref": ref_keys[id(data)]}
            for side in (s for s in sides if s in up.sides):
                stored[side] = timed(up, side, put(side, data, n))
            for side in sides:
                timed(down, side, get(side, sha, stored[side]))
            for key in stored["raw"]:
                raw.delete(key)
    return [c for _data, _n, up, down in workloads for c in (up, down)]


def _cell(c: Comparison, side: str, base: str | None = None) -> str:
    if side not in c.sides or (base is not None and base not in c.sides):
        return "-"
    if base is None:
        return f"{c.rate(side):.1f}"
    return f"{c.ratio(side, base):.2f}"


def format_throughput(comparisons: Sequence[Comparison], repeats: int) -> list[str]:
    header = (
        f"{'workload':<16} {'op':<9} {'hub':>8} {'raw':>8} {'ref':>8} {'hub/raw':>7} "
        f"{'ref/raw':>7} {'hub/ref':>7} {'median':>6} {'client':>7} {'server':>7} {'busy':>5} "
        f"{'stall':>5}"
    )
    lines = [
        f"Throughput, best of {repeats} runs: MiB/s for the large documents, documents/s for",
        "the small ones. raw: minio on the same SeaweedFS; ref: the reference proxy. median: the",
        "targeted ratio (hub/ref for large downloads, hub/raw otherwise) of the median runs.",
        "client: the benchmark's CPU time in the hub's best run, % of its wall time; server: the",
        "hub's processes' (all workers); busy: the machine's CPUs in that run (database and",
        "SeaweedFS included); stall: the share of that time some task waited for a CPU (PSI).",
        header,
        "-" * len(header),
    ]
    for c in comparisons:
        hub = c.best("hub")
        cell = functools.partial(_cell, c)
        median = "-"
        if c.target is not None:
            median = f"{c.ratio(c.target[0], c.target[1], statistics.median):.2f}"
        lines.append(
            f"{c.workload:<16} {c.operation:<9} {cell('hub'):>8} {cell('raw'):>8} "
            f"{cell('ref'):>8} {cell('hub', 'raw'):>7} {cell('ref', 'raw'):>7} "
            f"{cell('hub', 'ref'):>7} {median:>6} {hub.client_s / hub.wall_s:>7.0%} "
            f"{hub.server_s / hub.wall_s:>7.0%} {hub.busy:>5.0%} {_stalled(hub):>5}"
        )
    return lines


# --- 2. the request floor; 3. CPU per GiB ------------------------------------------------------


def measure_floor(servers: Servers, document_id: str, *, count: int) -> dict[str, list[float]]:
    """ms of GET /healthz and of a metadata GET, alternating, so both see the same noise.

    The document is IOM's travel document that DTV reads without a share, as in every download
    here: the policy decides, and the read is recorded."""
    http, tokens = servers.hub_http, servers.tokens
    requests: dict[str, Callable[[], urllib3.BaseHTTPResponse]] = {
        "healthz": lambda: http.request("GET", "/healthz"),
        "metadata": lambda: http.request(
            "GET", f"{API}/{document_id}", headers=tokens.header("DTV")
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in requests}
    for _ in range(count):
        for name, send in requests.items():
            t0 = time.perf_counter()
            response = send()
            samples[name].append((time.perf_counter() - t0) * 1000)
            if response.status != 200:
                raise SystemExit(f"{name} answered {response.status}")
    return samples


def format_floor(samples: dict[str, list[float]], small: Sequence[Comparison]) -> list[str]:
    labels = {
        "healthz": "GET /healthz: the HTTP round trip alone (no token, no database)",
        "metadata": "GET /api/v1/documents/{id}: + token check, policy, one audit record, commit",
    }
    lines = ["Where a small request's time goes: ms per request, one client, sequential."]
    lines.append(f"  {'median':>7} {'p90':>7}")
    lines += [
        f"  {statistics.median(ms):7.2f} {percentile(ms, 0.9):7.2f}  {labels[name]}"
        for name, ms in samples.items()
    ]
    for c in small:
        per_doc = {side: 1000 / c.rate(side) for side in c.sides}
        others = "; ".join(f"{side} {ms:.2f}" for side, ms in per_doc.items() if side != "hub")
        lines.append(
            f"  {per_doc['hub']:7.2f} {'':7}  {c.operation} of {c.workload.split(' x ')[1]} "
            f"through the hub; {others} (best run's mean)"
        )
    return lines


def cpu_floor_per_gib(mib: int, repeats: int = 3) -> float:
    """CPU seconds per GiB of AES-GCM decryption of 1 MiB segments plus SHA-256 of the plaintext,
    in this process on one thread: what serving a GiB cannot cost less than."""
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    prefix = os.urandom(7)
    nonces = [prefix + i.to_bytes(4, "big") + b"\x00" for i in range(mib)]
    segments = [aead.encrypt(nonce, os.urandom(SEGMENT_PLAINTEXT), None) for nonce in nonces]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time()
        digest = hashlib.sha256()
        for nonce, segment in zip(nonces, segments, strict=True):
            digest.update(aead.decrypt(nonce, segment, None))
        best = min(best, time.thread_time() - t0)
    return best / (mib * SEGMENT_PLAINTEXT / GiB)


def server_cpu_per_gib(comparisons: Sequence[Comparison], side: str) -> float | None:
    """CPU seconds of ``side``'s processes per GiB over every large download run."""
    cpu, gib = 0.0, 0.0
    for c in comparisons:
        if c.operation == "download" and c.unit == "MiB" and side in c.runs:
            cpu += sum(r.server_s for r in c.runs[side])
            gib += len(c.runs[side]) * c.amount / 1024
    return cpu / gib if gib else None


# --- 4. memory of the hub's processes ----------------------------------------------------------


class RssSampler:
    """Samples the RSS of a process tree every ``interval`` seconds in a thread; keeps the peak."""

    def __init__(self, tree: ProcessTree, interval: float = SAMPLE_INTERVAL_S) -> None:
        self._tree = tree
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self.samples = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree.rss())
            self.samples += 1
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._tree.rss())


@dataclass(frozen=True, slots=True)
class MemoryResult:
    operation: str
    size: int
    baseline: int
    sampled_peak: int
    samples: int
    hwm_peak: int | None  # the sum of VmHWM, when it could be reset at the baseline
    cpu: Cpu

    @property
    def growth_mib(self) -> float:
        return (max(self.sampled_peak, self.hwm_peak or 0) - self.baseline) / MiB

    @property
    def met(self) -> bool:
        return self.growth_mib < MEMORY_TARGET_MIB


def watch_memory(
    tree: ProcessTree, operation: str, size: int, work: Callable[[], None]
) -> MemoryResult:
    resettable = tree.reset_hwm()
    baseline = tree.rss()
    with RssSampler(tree) as sampler, metered(tree) as timing:
        work()
    hwm = tree.hwm() if resettable else None
    return MemoryResult(operation, size, baseline, sampler.peak, sampler.samples, hwm, timing[0])


def measure_memory(servers: Servers, size: int) -> list[MemoryResult]:
    """The round trip of one ``size`` document."""
    written = hashlib.sha256()
    uploaded: dict[str, Any] = {}
    http, tokens, tree = servers.hub_http, servers.tokens, servers.hub.tree

    def put() -> None:
        stream = pdf_stream(size, written.update)
        uploaded.update(
            upload(http, tokens, stream, size=size, organisation="DTV", document_type="case_info")
        )

    def get() -> None:
        sha, length = download(http, tokens, uploaded["id"])
        check(written.hexdigest(), sha, f"the {size / MiB:.0f} MiB download")
        if length != size:
            raise SystemExit(f"the download had {length} bytes, not {size}")

    log_progress(f"memory: one {size // MiB} MiB upload and download")
    results = [watch_memory(tree, "upload", size, put)]
    check(written.hexdigest(), uploaded["sha256"], "the hub's sha256 of the big upload")
    results.append(watch_memory(tree, "download", size, get))
    return results


def format_memory(results: Sequence[MemoryResult], processes: int) -> list[str]:
    size = results[0].size
    lines = [
        (
            f"Memory of the hub ({processes} processes, RSS summed, MiB) during one "
            f"{size / MiB:.0f} MiB document: RSS sampled every {SAMPLE_INTERVAL_S * 1000:.0f} ms;"
        ),
        "VmHWM: the kernel's peak, reset at the baseline; growth = the larger peak - baseline.",
        (
            f"{'operation':<10} {'baseline':>9} {'sampled':>8} {'VmHWM':>7} {'growth':>7} "
            f"{'MiB/s':>7}  target < {MEMORY_TARGET_MIB} MiB"
        ),
    ]
    for r in results:
        hwm = f"{r.hwm_peak / MiB:7.1f}" if r.hwm_peak is not None else f"{'n/a':>7}"
        lines.append(
            f"{r.operation:<10} {r.baseline / MiB:9.1f} {r.sampled_peak / MiB:8.1f} {hwm} "
            f"{r.growth_mib:7.1f} {size / MiB / r.cpu.wall_s:7.1f}  {_verdict(r.met)} "
            f"({r.samples} samples; {describe_cpu(r.cpu)})"
        )
    return lines


# --- 5. concurrent clients -----------------------------------------------------------------------


@dataclass(slots=True)
class Load:
    clients: int
    latency: dict[str, list[float]] = field(default_factory=lambda: {"upload": [], "download": []})
    bytes_moved: int = 0
    errors: list[str] = field(default_factory=list)
    mismatches: int = 0
    wall_s: float = 0.0


def run_load(servers: Servers, *, clients: int, seconds: float) -> Load:
    """``clients`` threads, each uploading or downloading (half and half) until the time is up."""
    http = Http(servers.hub.base_url, connections=clients)
    tokens = servers.tokens
    pool_bytes = os.urandom(2 * MiB)
    counter = iter(range(1 << 62))
    load = Load(clients)
    lock = threading.Lock()
    documents: list[tuple[str, str]] = []  # (id, sha256) of everything uploaded

    def content(rng: random.Random) -> bytes:
        with lock:
            number = next(counter)
        size = rng.randint(200 * KiB, 2 * MiB)
        return f"%PDF-1.7\n%{number:016d}\n".encode() + pool_bytes[: size - 27]

    def one_upload(data: bytes, sha: str) -> None:
        body = upload(http, tokens, [data], size=len(data))
        with lock:
            load.mismatches += body["sha256"] != sha
            documents.append((body["id"], sha))
            load.bytes_moved += len(data)

    def one_download(document_id: str, sha: str) -> None:
        got, length = download(http, tokens, document_id)
        with lock:
            load.mismatches += got != sha
            load.bytes_moved += length

    def worker(seed: int, deadline: float) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            if rng.random() < 0.5:  # the content and its hash are made before the clock starts
                kind, data = "upload", content(rng)
                request = functools.partial(one_upload, data, hashlib.sha256(data).hexdigest())
            else:
                with lock:
                    chosen = rng.choice(documents)
                kind, request = "download", functools.partial(one_download, *chosen)
            t0 = time.perf_counter()
            try:
                request()
            except (urllib3.exceptions.HTTPError, BenchError, KeyError, ValueError) as exc:
                with lock:
                    load.errors.append(f"{kind}: {exc!r}"[:300])
                continue
            load.latency[kind].append(time.perf_counter() - t0)

    seeder = random.Random(0)
    for _ in range(clients):  # something to download from the first request on
        data = content(seeder)
        one_upload(data, hashlib.sha256(data).hexdigest())
    load.bytes_moved = 0
    t0 = time.perf_counter()
    threads = [
        threading.Thread(target=worker, args=(i, t0 + seconds), daemon=True) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.wall_s = time.perf_counter() - t0
    return load


def format_load(load: Load, cpu: Cpu) -> list[str]:
    every = load.latency["upload"] + load.latency["download"]
    lines = [
        (
            f"Concurrency: {load.clients} client threads for {load.wall_s:.0f} s, 50/50 uploads "
            "(IOM) and downloads (DTV), 200 KiB to 2 MiB each, one urllib3 pool."
        ),
        (
            f"  {len(every) / load.wall_s:.1f} requests/s, "
            f"{load.bytes_moved / MiB / load.wall_s:.1f} MiB/s; {len(every)} requests, "
            f"{len(load.errors)} errors, {load.mismatches} SHA-256 mismatches: target 0 and 0: "
            f"{_verdict(not load.errors and not load.mismatches)}"
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


# --- 6. policy -----------------------------------------------------------------------------------


def policy_median_us(iterations: int) -> float:
    """Median µs of Policy.decide over benchmarks/policy.py's mix of questions."""
    organisations = {seed.code: seed.kind for seed in CHAIN + DEMO_GEMEENTEN}
    policy = load_policy(demo_policy_bytes(), source="demo.yaml", organisations=organisations)
    parties = [Party(code, kind) for code, kind in organisations.items()]
    questions = policy_bench._questions(parties, iterations, seed=1)
    policy_bench._time_each(policy, questions[:10_000])  # warm-up
    return statistics.median(policy_bench._time_each(policy, questions)) / 1000


# --- the targets ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    measured: str
    target: str
    met: bool
    value: float
    beside: str = ""  # figures printed beside it, for reading it (hub/raw beside hub/ref)


def _verdict(met: bool) -> str:  # noqa: FBT001 - a verdict is of a truth value
    return "PASS" if met else "MISS"


def targets(
    comparisons: Sequence[Comparison],
    *,
    floor: dict[str, list[float]],
    cpu: dict[str, float | None],
    memory: Sequence[MemoryResult],
    load: Load | None,
    policy_us: float,
) -> list[Target]:
    rows = []
    for c in comparisons:
        if c.target is None:
            continue
        side, base, least = c.target
        ratio = c.ratio(side, base)
        beside = ", ".join(
            f"{s}/{b} {c.ratio(s, b):.2f}"
            for s, b in (("hub", "raw"), ("ref", "raw"))
            if (s, b) != (side, base) and s in c.sides and b in c.sides
        )
        if c.operation == "download" and c.unit == "docs":
            beside = "goal 0.5" + (f"; {beside}" if beside else "")
        if c.operation == "download" and c.unit == "MiB":
            beside = "goal 1.0" + (f"; {beside}" if beside else "")
        rows.append(
            Target(
                f"{c.workload} {c.operation}, {side}/{base}",
                f"{ratio:.2f}",
                f">= {least}",
                ratio >= least,
                ratio,
                beside,
            )
        )
    health, meta = statistics.median(floor["healthz"]), statistics.median(floor["metadata"])
    rows.append(
        Target(
            "GET /documents/{id} / GET /healthz, medians",
            f"{meta / health:.2f}",
            f"<= {FLOOR_RATIO:.0f}",
            meta / health <= FLOOR_RATIO,
            meta / health,
            f"{meta:.2f} ms / {health:.2f} ms",
        )
    )
    hub_cpu, floor_cpu, ref_cpu = cpu["hub"], cpu["floor"], cpu["ref"]
    if hub_cpu is not None and floor_cpu:
        rows.append(
            Target(
                "hub CPU s per GiB downloaded / floor",
                f"{hub_cpu / floor_cpu:.2f}",
                f"<= {CPU_RATIO:.0f}",
                hub_cpu / floor_cpu <= CPU_RATIO,
                hub_cpu / floor_cpu,
                f"hub {hub_cpu:.2f} s/GiB, floor {floor_cpu:.2f}"
                + (f", ref {ref_cpu:.2f}" if ref_cpu is not None else ""),
            )
        )
    rows += [
        Target(
            f"hub RSS growth, {r.size // MiB} MiB {r.operation}",
            f"{r.growth_mib:.1f} MiB",
            f"< {MEMORY_TARGET_MIB} MiB",
            r.met,
            r.growth_mib,
        )
        for r in memory
    ]
    if load is not None:
        rows.append(
            Target(
                f"{load.clients} clients {load.wall_s:.0f} s: errors, mismatches",
                f"{len(load.errors)}, {load.mismatches}",
                "0, 0",
                not load.errors and not load.mismatches,
                len(load.errors) + load.mismatches,
            )
        )
    rows.append(
        Target(
            "Policy.decide median",
            f"{policy_us:.2f} µs",
            f"<= {POLICY_TARGET_US:.0f} µs",
            policy_us <= POLICY_TARGET_US,
            policy_us,
        )
    )
    return rows


def format_targets(rows: Sequence[Target]) -> list[str]:
    lines = [
        f"{'Targets':<46} {'measured':>11} {'target':>10}",
        "-" * 76,
    ]
    lines += [
        f"{t.name:<46} {t.measured:>11} {t.target:>10}  {_verdict(t.met)}"
        + (f"  ({t.beside})" if t.beside else "")
        for t in rows
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


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of MiB, e.g. 64,256") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be at least 1 MiB")
    return sizes


def _phases(text: str) -> frozenset[str]:
    phases = frozenset(part.strip() for part in text.split(",") if part.strip())
    if not phases <= {"memory", "load"}:
        raise argparse.ArgumentTypeError("phases that can be skipped: memory, load")
    return phases


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute")
    parser.add_argument("--workers", type=int, default=1, help="ketenhub serve --workers N")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write figures")
    parser.add_argument(
        "--large-mib", type=_sizes, default=None, help="the large documents: 64,256 (quick: 8)"
    )
    parser.add_argument("--small-kib", type=int, default=200, help="the small documents")
    parser.add_argument("--small-count", type=int, help="small documents per run: 100 (20)")
    parser.add_argument("--repeats", type=int, help="runs per throughput figure: 5 (1)")
    parser.add_argument("--floor-count", type=int, help="requests per floor figure: 200 (30)")
    parser.add_argument("--big-mib", type=int, help="the memory phase's document: 1024 (64)")
    parser.add_argument("--clients", type=int, help="concurrent clients: 32 (8)")
    parser.add_argument("--seconds", type=float, help="of the concurrent clients: 60 (5)")
    parser.add_argument("--policy-iterations", type=int, help="200000 (20000)")
    parser.add_argument(
        "--skip",
        type=_phases,
        default=frozenset(),
        metavar="PHASES",
        help="leave out phases, comma-separated: memory (the 1 GiB round trip), load (the clients)",
    )
    parser.add_argument("--postgres", default=DEFAULT_ADMIN_URL, metavar="ADMIN_URL")
    parser.add_argument(
        "--hub-src",
        type=Path,
        default=Path(os.environ.get("KETENHUB_BENCH_HUB_SRC", ROOT)),
        help="the checkout whose hub is measured (default: this one)",
    )
    parser.add_argument(
        "--hub-python",
        type=Path,
        default=Path(os.environ.get("KETENHUB_BENCH_HUB_PYTHON", sys.executable)),
        help="the interpreter that runs the hub (default: this one)",
    )
    args = parser.parse_args(argv)
    # An explicit value always wins; otherwise the full or the quick default.
    defaults: dict[str, tuple[object, object]] = {
        "large_mib": ([64, 256], [8]),
        "small_count": (100, 20),
        "repeats": (5, 1),
        "floor_count": (200, 30),
        "big_mib": (1024, 64),
        "clients": (32, 8),
        "seconds": (60.0, 5.0),
        "policy_iterations": (200_000, 20_000),
    }
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    counts = (args.small_count, args.repeats, args.big_mib, args.clients, args.floor_count)
    if min(*counts, args.workers) < 1:
        parser.error("sizes, counts and --workers must be at least 1")
    if not 1 <= args.small_kib <= 256 * KiB or args.big_mib > 2048:
        parser.error("--small-kib must be 1 to 262144, --big-mib at most 2048 (case_info's limit)")
    args.hub_src = args.hub_src.resolve()
    if not (args.hub_src / "hub" / "cli" / "__main__.py").exists():
        parser.error(f"--hub-src {args.hub_src} holds no hub/cli/__main__.py")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    started = time.perf_counter()
    facts = machine_facts(args)
    print("\n".join(facts), flush=True)
    s3 = S3Settings.from_environment()
    dek = os.urandom(32)
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(scratch_database(args.postgres))
        hub_bucket = stack.enter_context(bucket_of_own(s3, "ketenhub-bench-api", create=False))
        raw = stack.enter_context(bucket_of_own(s3, "ketenhub-bench-raw", create=True))
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ketenhub-api-")))
        log_progress("ketenhub init --demo, then ketenhub serve; the reference proxy")
        hub = stack.enter_context(
            running_hub(
                args, database_url=database_url, bucket=hub_bucket.name, s3=s3, data_dir=data_dir
            )
        )
        ref = stack.enter_context(
            running_reference(bucket=raw.name, s3=s3, dek=dek, data_dir=data_dir)
        )
        tokens = Tokens(hub, data_dir / "demo-credentials.json")
        servers = Servers(hub, ref, Http(hub.base_url), Http(ref.base_url), tokens, raw, dek)
        processes = len(hub.tree.processes())
        warm = pdf_buffer(64 * KiB)
        for _ in range(3):  # connections, caches and lazy imports, before anything is measured
            document = upload(servers.hub_http, tokens, [warm], size=len(warm))["id"]
            got = download(servers.hub_http, tokens, document)[0]
            check(hashlib.sha256(warm).hexdigest(), got, "the warm-up")
        memory: list[MemoryResult] = []
        if "memory" not in args.skip:
            memory = measure_memory(servers, args.big_mib * MiB)
        comparisons = measure_throughput(servers, args)
        log_progress("the request floor; the CPU floor")
        floor = measure_floor(servers, document, count=args.floor_count)
        cpu = {
            "hub": server_cpu_per_gib(comparisons, "hub"),
            "ref": server_cpu_per_gib(comparisons, "ref"),
            "floor": cpu_floor_per_gib(16 if args.quick else 64),
        }
        load, load_cpu = None, None
        if "load" not in args.skip:
            log_progress(f"{args.clients} concurrent clients for {args.seconds:g} s")
            with metered(hub.tree) as timing:
                load = run_load(servers, clients=args.clients, seconds=args.seconds)
            load_cpu = timing[0]
        server_log = hub.log.read_text(errors="replace")
        reference_log = ref.log.read_text(errors="replace")
    log_progress("policy decisions")
    policy_us = policy_median_us(args.policy_iterations)
    rows = targets(comparisons, floor=floor, cpu=cpu, memory=memory, load=load, policy_us=policy_us)
    results = Results(
        facts=facts,
        args=args,
        processes=processes,
        comparisons=comparisons,
        floor=floor,
        cpu=cpu,
        memory=memory,
        load=load,
        load_cpu=load_cpu,
        policy_us=policy_us,
        rows=rows,
        hub_log=server_log,
        reference_log=reference_log,
        total_s=time.perf_counter() - started,
    )
    print("\n".join(results.report()))
    if args.json is not None:
        figures = json.dumps(results.figures(), indent=2, ensure_ascii=False, default=_jsonable)
        args.json.write_text(figures + "\n", "utf-8")
    return 1 if load is not None and load.mismatches else 0


def _jsonable(value: object) -> object:
    """What ``json`` cannot write by itself: paths as text, sets as sorted lists."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass(frozen=True, slots=True)
class Results:
    """Every figure of one run, for the report and for ``--json``."""

    facts: list[str]
    args: argparse.Namespace
    processes: int
    comparisons: list[Comparison]
    floor: dict[str, list[float]]
    cpu: dict[str, float | None]
    memory: list[MemoryResult]
    load: Load | None
    load_cpu: Cpu | None
    policy_us: float
    rows: list[Target]
    hub_log: str
    reference_log: str
    total_s: float

    def report(self) -> list[str]:
        lines = ["", "=" * 100, *self.facts]
        lines.append(f"load average (1, 5, 15 min) at the end: {load_average()}")
        lines.append(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        cpu_lines = [
            "CPU seconds per GiB downloaded (large downloads, every run): "
            + ", ".join(f"{k} {v:.2f}" for k, v in self.cpu.items() if v is not None),
            "  (floor: AES-GCM decryption of 1 MiB segments + SHA-256 of the plaintext, in",
            "  this process on one thread, in this run; hub: all its processes; ref: the proxy)",
        ]
        sections = [
            format_throughput(self.comparisons, self.args.repeats),
            format_floor(self.floor, [c for c in self.comparisons if c.unit == "docs"]),
            cpu_lines,
        ]
        if self.memory:
            sections.append(format_memory(self.memory, self.processes))
        if self.load is not None and self.load_cpu is not None:
            sections.append(format_load(self.load, self.load_cpu))
        sections.append(format_targets(self.rows))
        for section in sections:
            lines += ["", *section]
        lines += ["", f"hub log: {self.hub_log.count('Traceback')} tracebacks"]
        lines += log_errors(self.hub_log)
        if "Traceback" in self.reference_log:
            lines.append(f"reference proxy log: {self.reference_log.count('Traceback')} tracebacks")
            lines += log_errors(self.reference_log)
        lines.append(f"total time {self.total_s:.0f} s")
        return lines

    def figures(self) -> dict[str, Any]:
        load = self.load
        return {
            "facts": self.facts,
            "arguments": vars(self.args),
            "hub_processes": self.processes,
            "throughput": [c.figures() for c in self.comparisons],
            "floor_ms": {
                name: {"median": statistics.median(ms), "p90": percentile(ms, 0.9)}
                for name, ms in self.floor.items()
            },
            "cpu_s_per_gib": self.cpu,
            "memory": [
                {
                    "operation": r.operation,
                    "size_mib": r.size // MiB,
                    "growth_mib": r.growth_mib,
                    "baseline_mib": r.baseline / MiB,
                    "sampled_peak_mib": r.sampled_peak / MiB,
                    "hwm_peak_mib": None if r.hwm_peak is None else r.hwm_peak / MiB,
                }
                for r in self.memory
            ],
            "load": None
            if load is None
            else {
                "clients": load.clients,
                "seconds": load.wall_s,
                "requests": sum(len(v) for v in load.latency.values()),
                "errors": len(load.errors),
                "mismatches": load.mismatches,
                "mib_per_s": load.bytes_moved / MiB / load.wall_s,
                "p50_ms": {k: statistics.median(v) * 1000 for k, v in load.latency.items() if v},
                "p99_ms": {k: percentile(v, 0.99) * 1000 for k, v in load.latency.items() if v},
            },
            "policy_median_us": self.policy_us,
            "targets": [asdict(t) for t in self.rows],
            "hub_log_tracebacks": self.hub_log.count("Traceback"),
            "total_s": self.total_s,
        }


if __name__ == "__main__":
    sys.exit(main())
