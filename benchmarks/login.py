"""Benchmark: what a password check costs, and that an unknown name costs the same.

A login's password step verifies an argon2id hash (:mod:`auth.passwords`, the hub's parameters)
or, for a name without an account, the dummy hash, so that neither the answer nor its time
tells which names exist (decision 0022). This prints, for the default parameters, the median
and p90 of ``Passwords.verify`` for: a known name with the wrong password, a known name with the
right one, and an unknown name; the ratio unknown/known (target: within 1.00 +/- 0.05, measured
in one run, interleaved so that the machine's noise falls on all three alike); and how many
password checks one core does per second (a ceiling on logins per second per core). Run:

    .venv/bin/python benchmarks/login.py [--rounds 60]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auth.passwords import DEFAULT_PARAMETERS, Passwords

PASSWORD = "correct horse battery staple 12"


def _timed(check: Callable[[], object]) -> float:
    started = time.perf_counter()
    check()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    rounds = parser.parse_args().rounds
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

    machine = platform.processor() or platform.machine()
    print(f"argon2id {DEFAULT_PARAMETERS}; {rounds} rounds; {machine}")
    for name, samples in times.items():
        ordered = sorted(samples)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        median = statistics.median(samples) * 1000
        print(f"  {name:<28} median {median:6.1f} ms   p90 {p90 * 1000:6.1f} ms")
    known = statistics.median(times["known name, wrong password"])
    unknown = statistics.median(times["unknown name (dummy hash)"])
    print(f"  unknown / known (median): {unknown / known:.3f}")
    print(f"  password checks per second per core: {1 / known:.0f}")


if __name__ == "__main__":
    main()
