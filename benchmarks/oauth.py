"""Benchmark: access-token issuance per second and validation latency, for each signing alg.

Measures, on a throw-away hub (SQLite in a temporary directory, or PostgreSQL with
``--postgres ADMIN_URL``, in a database of its own that it creates and drops), set up exactly as
the tests' in-process hub is (:func:`tests.fixtures.oauth.start_hub`: organisations, signing
keys, the demo policy file, the store), so that what a hub needs at start-up cannot drift from
this script again:

- **issuance**: full ``POST /oauth/token`` round trips in process (client assertion verified,
  its ``jti`` recorded in the database, token signed), sequentially, as tokens per second;
- **validation**: :meth:`auth.tokens.TokenValidator.validate` on one token with the signing keys
  cached, as median and p99 microseconds; once without the revocation lookup (the pure
  cryptographic and claims check, the target's "with the key cached") and once with it (one
  primary-key read from the database per call, as every API request does).

Target: validation median <= 200 microseconds with the key cached. Run:

    .venv/bin/python benchmarks/oauth.py [--quick] [--algs PS256,ES256] [--tokens 200]
        [--validations 3000] [--postgres postgresql://postgres@127.0.0.1:5432/test]

``--quick`` (20 tokens and 300 validations per algorithm unless said otherwise) is the smoke run
CI does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# This file's directory would otherwise shadow nothing, but keep imports from the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from benchmarks.conventions import add_quick, apply_sizes, machine_header
from tests.fixtures.oauth import hub_settings, make_assertion, start_hub

TARGET_US = 200.0


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def run(alg: str, *, tokens: int, validations: int, database_url: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        url = database_url or f"sqlite:///{data_dir / 'ketenhub.db'}"
        settings = hub_settings(data_dir, url, token_signing_alg=alg)
        with contextmanager(start_hub)(settings) as hub:
            client = hub.register(
                organisation="IOM",
                scopes="documents:read",
                client_id=f"bench-{alg.lower()}-{os.getpid()}",
                with_secret=False,
            )
            form = {
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            }
            assertions = [make_assertion(client) for _ in range(tokens + 5)]
            for assertion in assertions[:5]:  # warm up: keys loaded, connections open
                hub.client.post("/oauth/token", data={**form, "client_assertion": assertion})
            started = time.perf_counter()
            for assertion in assertions[5:]:
                response = hub.client.post(
                    "/oauth/token", data={**form, "client_assertion": assertion}
                )
                if response.status_code != 200:
                    raise SystemExit(f"token request failed: {response.text}")
            issuance = tokens / (time.perf_counter() - started)
            token = response.json()["access_token"]

            validator = hub.services.oauth.validator
            for _ in range(50):
                validator.validate(token)
            samples: dict[str, list[float]] = {"cached": [], "with_revocation": []}
            for mode, check in (("cached", False), ("with_revocation", True)):
                for _ in range(validations):
                    t0 = time.perf_counter_ns()
                    validator.validate(token, check_revocation=check)
                    samples[mode].append((time.perf_counter_ns() - t0) / 1000)
    return {
        "issuance_per_s": issuance,
        "cached_p50": statistics.median(samples["cached"]),
        "cached_p99": _percentile(samples["cached"], 0.99),
        "revocation_p50": statistics.median(samples["with_revocation"]),
        "revocation_p99": _percentile(samples["with_revocation"], 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_quick(parser)
    parser.add_argument("--algs", default="PS256,ES256")
    parser.add_argument("--tokens", type=int, default=None, help="200; 20 with --quick")
    parser.add_argument("--validations", type=int, default=None, help="3000; 300 with --quick")
    parser.add_argument(
        "--postgres",
        default=None,
        metavar="ADMIN_URL",
        help="benchmark on PostgreSQL in a scratch database (default: SQLite in a temp dir)",
    )
    args = parser.parse_args()
    apply_sizes(args, tokens=(200, 20), validations=(3000, 300))
    _report(args)


@contextmanager
def _scratch_database(admin_url: str | None) -> Iterator[str | None]:
    """A PostgreSQL database of the benchmark's own, dropped afterwards; None for SQLite."""
    if admin_url is None:
        yield None
        return
    name = f"ketenhub_bench_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield (
            make_url(admin_url)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _report(args: argparse.Namespace) -> None:
    print("\n".join(machine_header(quick=args.quick)), flush=True)
    print(f"database: {'PostgreSQL (scratch database)' if args.postgres else 'SQLite (temporary)'}")
    print(
        f"{'alg':<6} {'tokens/s':>9} {'validate p50 µs':>16} {'p99':>8} "
        f"{'+revocation p50':>16} {'p99':>8}  target (cached p50 <= {TARGET_US:.0f} µs)"
    )
    for alg in args.algs.split(","):
        # A database per algorithm: its signing keys are sealed under that run's key ring.
        with _scratch_database(args.postgres) as database_url:
            r = run(
                alg, tokens=args.tokens, validations=args.validations, database_url=database_url
            )
        met = "met" if r["cached_p50"] <= TARGET_US else "NOT met"
        print(
            f"{alg:<6} {r['issuance_per_s']:>9.1f} {r['cached_p50']:>16.0f} "
            f"{r['cached_p99']:>8.0f} {r['revocation_p50']:>16.0f} "
            f"{r['revocation_p99']:>8.0f}  {met}"
        )


if __name__ == "__main__":
    main()
