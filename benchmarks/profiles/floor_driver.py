"""The request floor, phase by phase: what decision 0036 was measured with (not a benchmark).

Starts the hub as benchmarks/api.py does (PostgreSQL scratch database, fresh SeaweedFS bucket),
then runs, one phase at a time, ``--count`` sequential requests of each kind: ``GET /healthz``,
``GET /api/v1/documents/{id}`` (metadata), a 200 KiB upload and a 200 KiB download, and the same
number of raw minio puts and gets of 200 KiB. Prints each phase's median ms and rate, and the
hub process's CPU time per request (user and system: less shaken than wall time by a machine
shared with other work).

With ``--count-sql`` the hub runs with ``benchmarks/profiles/floor_site/`` on its path, whose
``sitecustomize`` counts SQL round trips by text (statements, BEGIN, COMMIT, ROLLBACK, pings); the
driver asks for the counts between phases (SIGUSR1) and prints statements per request.
With ``--py-spy DIR`` each phase is recorded by ``py-spy record --pid`` into
``DIR/floor-<phase>.svg``.

    .venv/bin/python benchmarks/profiles/floor_driver.py [--count 200] [--count-sql] [--root DIR]

``--root`` names the checkout the hub runs from (default: this one), so that a before and an
after run in the same hour, on the same machine, one after the other.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent.parent
sys.path[:] = [str(_ROOT), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

from benchmarks import api as bench  # noqa: E402

SMALL = 200 * bench.KiB


def _counts(pid: int, path: Path) -> Counter[str]:
    path.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the hub did not dump its SQL counts")
        time.sleep(0.02)
    return Counter(json.loads(path.read_text()))


@contextlib.contextmanager
def _spy(pid: int, out: Path | None, fmt: str = "flamegraph") -> Iterator[None]:
    if out is None:
        yield
        return
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "-o",
            str(out),
            "--rate",
            "250",
            "--nonblocking",
            "--format",
            fmt,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


def main() -> int:  # noqa: PLR0915 - a driver: one straight script
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--count-sql", action="store_true")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="DIR")
    parser.add_argument("--suffix", default="")
    parser.add_argument(
        "--root", type=Path, default=_ROOT, help="the checkout the hub runs from (before/after)"
    )
    parser.add_argument("--spy-format", default="flamegraph", choices=["flamegraph", "raw"])
    parser.add_argument("--only", default=None, help="comma-separated phases to run")
    args = parser.parse_args()
    s3 = bench.S3Settings.from_environment()
    count_file = Path(tempfile.mkdtemp(prefix="floor-sql-")) / "counts.json"
    if args.count_sql:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(args.root), str(_HERE / "floor_site")])
        os.environ["FLOOR_COUNT_FILE"] = str(count_file)
    else:
        os.environ["PYTHONPATH"] = str(args.root)
    with (
        bench.scratch_database(bench.DEFAULT_ADMIN_URL) as database_url,
        bench.bucket_of_own(s3, "floor", create=False) as bucket,
        bench.bucket_of_own(s3, "floor-raw", create=True) as raw,
        tempfile.TemporaryDirectory(prefix="floor-hub-") as data_dir,
        bench.running_hub(
            argparse.Namespace(hub_src=args.root, hub_python=Path(sys.executable), workers=1),
            database_url=database_url,
            bucket=bucket.name,
            s3=s3,
            data_dir=Path(data_dir),
        ) as hub,
    ):
        # The same client stack as benchmarks/api.py (urllib3, as minio reads raw S3).
        client = bench.Http(hub.base_url)
        tokens = bench.Tokens(hub, Path(data_dir) / "demo-credentials.json")
        data = bench.pdf_buffer(SMALL)
        sha = hashlib.sha256(data).hexdigest()
        ids = [bench.upload(client, tokens, [data], size=SMALL)["id"] for _ in range(20)]
        for document_id in ids:  # warm: every path once, tokens issued
            bench.download(client, tokens, document_id)
            client.request("GET", f"{bench.API}/{document_id}", headers=tokens.header("DTV"))
        raw_keys: list[str] = []
        uploaded: list[str] = []

        def metadata(i: int) -> None:
            path = f"{bench.API}/{ids[i % len(ids)]}"
            r = client.request("GET", path, headers=tokens.header("DTV"))
            assert r.status == 200, r.data

        def up(_: int) -> None:
            uploaded.append(bench.upload(client, tokens, [data], size=SMALL)["id"])

        def down(i: int) -> None:
            got, _ = bench.download(client, tokens, uploaded[i % len(uploaded)])
            assert got == sha

        def raw_put(_: int) -> None:
            raw_keys.append(raw.put(data))

        def raw_get(i: int) -> None:
            assert raw.sha256(raw_keys[i % len(raw_keys)]) == sha

        def healthz(_: int) -> None:
            assert client.request("GET", "/healthz").status == 200

        phases: list[tuple[str, Callable[[int], None]]] = [
            ("healthz", healthz),
            ("metadata", metadata),
            ("upload-200k", up),
            ("download-200k", down),
            ("raw-put-200k", raw_put),
            ("raw-get-200k", raw_get),
        ]
        pid = hub.tree.root.pid
        medians: dict[str, float] = {}
        if args.only:
            wanted = set(args.only.split(","))
            phases = [(n, w) for n, w in phases if n in wanted]
        for name, work in phases:
            before = _counts(pid, count_file) if args.count_sql else Counter()
            spy_out = (
                args.py_spy
                / f"floor-{name}{args.suffix}.{'svg' if args.spy_format == 'flamegraph' else 'txt'}"
                if args.py_spy and not name.startswith(("raw", "healthz"))
                else None
            )
            samples = []
            cpu_before = hub.tree.cpu_s()
            with _spy(pid, spy_out, args.spy_format):
                started = time.perf_counter()
                for i in range(args.count):
                    t0 = time.perf_counter()
                    work(i)
                    samples.append((time.perf_counter() - t0) * 1000)
                elapsed = time.perf_counter() - started
            medians[name] = statistics.median(samples)
            cpu_ms = (hub.tree.cpu_s() - cpu_before) * 1000 / args.count
            p90 = sorted(samples)[int(len(samples) * 0.9)]
            print(
                f"{name:15} median {medians[name]:7.2f} ms  p90 {p90:7.2f} ms  "
                f"{args.count / elapsed:7.1f} /s  hub CPU {cpu_ms:5.2f} ms per request",
                flush=True,
            )
            if args.count_sql:
                after = _counts(pid, count_file)
                delta = after - before
                total = sum(delta.values())
                print(f"  SQL statements per request: {total / args.count:.2f}")
                for text, n in delta.most_common():
                    if n / args.count >= 0.5:
                        print(f"    {n / args.count:5.2f}  {text}")
        if len(medians) < 6:
            return 0
        print(f"metadata / healthz: {medians['metadata'] / medians['healthz']:.2f} (target <= 3)")
        print(
            f"200 KiB uploads hub/raw (by median): "
            f"{medians['raw-put-200k'] / medians['upload-200k']:.2f} (target >= 0.5)"
        )
        print(
            f"200 KiB downloads hub/raw (by median): "
            f"{medians['raw-get-200k'] / medians['download-200k']:.2f} (target >= 0.4)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
