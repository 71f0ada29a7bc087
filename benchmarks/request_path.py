"""Benchmark of one request of each everyday kind: an upload, a list and a download.

A benchmark, not a test: it prints figures and asserts nothing about time. It exists to show
that a change to how a request is wired (dependencies, recording, visibility) costs nothing a
partner would notice: run it before and after, on the same machine, and compare the medians.

The hub runs as deployed, as :mod:`benchmarks.api` runs it (``ketenhub init --demo`` and
``ketenhub serve`` on a scratch PostgreSQL database and a fresh SeaweedFS bucket). First IOM
uploads ``--documents`` (300) small travel documents and shares every third one with GM0363,
so that lists have rows to filter by the policy and by shares. Then, ``--rounds`` (100) times,
interleaved so that a disturbance of the shared machine hits every kind alike:

- **upload**: IOM uploads one ``--kib`` (64) KiB travel document;
- **list (policy)**: DTV lists its first page of 50 (it reads travel documents by the policy);
- **list (shares)**: GM0363 lists its first page of 50 (it sees only what was shared with it);
- **download**: DTV downloads the content of one of them, hashed and checked.

It prints the median and 90th percentile per kind, in milliseconds. It has no target of its own:
compare a run before a change with one after it. Run from the project root, with PostgreSQL and
SeaweedFS running::

    .venv/bin/python benchmarks/request_path.py [--quick] [--documents 300] [--rounds 100]
        [--kib 64]

``--quick`` (20 documents, 10 rounds unless said otherwise) is the smoke run CI does.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as a script: the project root, not benchmarks/, on the path
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

from benchmarks import api as bench
from benchmarks.conventions import add_quick, apply_sizes, machine_header

LIST_PAGE = 50


def share_with(client: httpx.Client, tokens: bench.Tokens, document_id: str, grantee: str) -> None:
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    response = client.post(
        "/api/v1/shares",
        json={
            "grantee": grantee,
            "document_id": document_id,
            "purpose": "terugkeer",
            "expires_at": expires,
        },
        headers=tokens.header("IOM"),
    )
    if response.status_code != 201:
        raise SystemExit(f"share failed: {response.status_code} {response.text[:500]}")


def timed(samples: list[float], send: Callable[[], object]) -> None:
    started = time.perf_counter()
    send()
    samples.append((time.perf_counter() - started) * 1000)


def listing(client: httpx.Client, tokens: bench.Tokens, organisation: str) -> Callable[[], None]:
    def send() -> None:
        response = client.get(f"{bench.API}?limit={LIST_PAGE}", headers=tokens.header(organisation))
        if response.status_code != 200 or not response.json()["items"]:
            raise SystemExit(
                f"list as {organisation}: {response.status_code} {response.text[:300]}"
            )

    return send


def run(arguments: argparse.Namespace) -> dict[str, list[float]]:
    s3 = bench.S3Settings.from_environment()
    size = arguments.kib * 1024
    samples: dict[str, list[float]] = {
        "upload (IOM)": [],
        "list, by the policy (DTV)": [],
        "list, by shares (GM0363)": [],
        "download (DTV)": [],
    }
    bucket_name = f"ketenhub-bench-path-{int(time.time())}"
    with (
        bench.scratch_database(arguments.postgres) as database_url,
        bench.bucket_of_own(s3, bucket_name, create=False) as bucket,
        tempfile.TemporaryDirectory(prefix="ketenhub-bench-") as scratch,
        bench.running_hub(
            # This checkout's hub, one process: the same defaults as benchmarks/api.py's.
            argparse.Namespace(hub_src=bench.ROOT, hub_python=Path(sys.executable), workers=1),
            database_url=database_url,
            bucket=bucket.name,
            s3=s3,
            data_dir=Path(scratch),
        ) as hub,
        httpx.Client(base_url=hub.base_url, timeout=60) as client,
    ):
        http = bench.Http(hub.base_url)
        tokens = bench.Tokens(hub, Path(scratch) / "demo-credentials.json")
        content = bench.pdf_buffer(size)
        expected = hashlib.sha256(content).hexdigest()
        bench.log_progress(f"seeding {arguments.documents} documents")
        ids = []
        for index in range(arguments.documents):
            made = bench.upload(http, tokens, [content], size=size)
            ids.append(made["id"])
            if index % 3 == 0:
                share_with(client, tokens, made["id"], "GM0363")

        def upload() -> None:
            bench.upload(http, tokens, [content], size=size)

        def download() -> None:
            digest, _ = bench.download(http, tokens, ids[len(ids) // 2])
            bench.check(expected, digest, "download")

        kinds: Sequence[tuple[str, Callable[[], None]]] = (
            ("upload (IOM)", upload),
            ("list, by the policy (DTV)", listing(client, tokens, "DTV")),
            ("list, by shares (GM0363)", listing(client, tokens, "GM0363")),
            ("download (DTV)", download),
        )
        for _, send in kinds:  # warm up: connections, caches, the first token
            send()
        bench.log_progress(f"measuring {arguments.rounds} rounds")
        for round_number in range(arguments.rounds):
            shift = round_number % len(kinds)  # take turns to go first
            for name, send in (*kinds[shift:], *kinds[:shift]):
                timed(samples[name], send)
    return samples


def report(samples: dict[str, list[float]], arguments: argparse.Namespace) -> list[str]:
    heading = (
        f"One request of each kind, sequential, {arguments.rounds} rounds; "
        f"{arguments.documents} documents seeded, {arguments.kib} KiB each; ms per request."
    )
    lines = [heading, f"  {'':28} {'median':>8} {'p90':>8}"]
    for name, values in samples.items():
        p90 = bench.percentile(values, 0.9)
        lines.append(f"  {name:28} {statistics.median(values):8.2f} {p90:8.2f}")
    lines.append("target: none; compare the medians of runs before and after a change")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    add_quick(parser)
    parser.add_argument("--documents", type=int, default=None, help="300; 20 with --quick")
    parser.add_argument("--rounds", type=int, default=None, help="100; 10 with --quick")
    parser.add_argument("--kib", type=int, default=64)
    parser.add_argument("--postgres", default=bench.DEFAULT_ADMIN_URL, metavar="ADMIN_URL")
    arguments = parser.parse_args(argv)
    apply_sizes(arguments, documents=(300, 20), rounds=(100, 10))
    print("\n".join(machine_header(quick=arguments.quick)), flush=True)
    print("\n".join(report(run(arguments), arguments)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
