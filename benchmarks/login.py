"""Benchmark: what a password check costs, and that an unknown name costs the same.

A login's password step verifies an argon2id hash (:mod:`auth.passwords`, the hub's parameters)
or, for a name without an account, the dummy hash, so that neither the answer nor its time
tells which names exist (decision 0022). This prints, for the default parameters, the median
and p90 of ``Passwords.verify`` for: a known name with the wrong password, a known name with the
right one, and an unknown name; the ratio unknown/known (target: within 1.00 +/- 0.05, measured
in one run, interleaved so that the machine's noise falls on all three alike); and how many
password checks one core does per second (a ceiling on logins per second per core). Run:

    .venv/bin/python benchmarks/login.py [--quick] [--rounds 60]

``--quick`` (10 rounds unless ``--rounds`` says otherwise) is the smoke run CI does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auth.passwords import DEFAULT_PARAMETERS, Passwords
from benchmarks.conventions import add_quick, apply_sizes, machine_header

PASSWORD = "correct horse battery staple 12"
TARGET_TOLERANCE = 0.05  # unknown / known within 1.00 +/- this


def _timed(check: Callable[[], object]) -> float:
    started = time.perf_counter()
    check()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_quick(parser)
    parser.add_argument("--rounds", type=int, default=None, help="60; 10 with --quick")
    args = parser.parse_args()
    apply_sizes(args, rounds=(60, 10))
    rounds = args.rounds
    print("\n".join(machine_header(quick=args.quick)), flush=True)
    passwords = Passwords()
    stored = passwords.hash(PASSWORD)
    cases: dict[str, Callable[[], object]] = {
        "known name, wrong password": lambda: passwords.verify(stored, "not the password at all"),
        "known name, right password": lambda: passwords.verify(stored, PASSWORD),
        "unknown name (dummy hash)": lambda: passwords.verify(None, "not the password at all"),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for check in cases.values():  # warm up
        check()
    for _ in range(rounds):
        for name, check in cases.items():  # interleaved: noise falls on all alike
            times[name].append(_timed(check))

    print(f"argon2id {DEFAULT_PARAMETERS}; {rounds} rounds")
    for name, samples in times.items():
        ordered = sorted(samples)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        median = statistics.median(samples) * 1000
        print(f"  {name:<28} median {median:6.1f} ms   p90 {p90 * 1000:6.1f} ms")
    known = statistics.median(times["known name, wrong password"])
    unknown = statistics.median(times["unknown name (dummy hash)"])
    ratio = unknown / known
    met = "met" if abs(ratio - 1) <= TARGET_TOLERANCE else "NOT met"
    print(
        f"  unknown / known (median): {ratio:.3f}   target 1.00 +/- {TARGET_TOLERANCE:.2f}: {met}"
    )
    print(f"  password checks per second per core: {1 / known:.0f}")


if __name__ == "__main__":
    main()
