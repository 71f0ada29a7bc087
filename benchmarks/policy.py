"""Benchmark: how long one sharing-policy decision takes.

The hub decides the policy on every request, and once per row where it filters, so a decision
must cost next to nothing. This times :meth:`hub.rules.Policy.decide` on the demo policy over
a shuffled mix of questions: every organisation of the chain and the demo gemeenten, every
action, the three document types and an unknown one, and no uploader, the party itself or
another organisation as uploader. Allowed and denied answers, code, kind, ``any`` and
``uploader`` rules all occur.

Each call is timed on its own with ``time.perf_counter_ns`` (the clock's own cost, measured
and printed, is included in the figures), for the median and p99; a second pass times the
same mix in one loop, for the amortised cost. Also printed: the time to load the demo policy
file, and the median of ``readable_types`` and ``share_scope``.

A benchmark, not a test: it prints figures and asserts nothing. Target: median decide
<= 50 µs. Run:

    .venv/bin/python benchmarks/policy.py [--quick] [--iterations 500000] [--seed 1]

``--quick`` (20,000 decisions unless ``--iterations`` says otherwise) is the smoke run CI does.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path

# Keep imports from the project root, however the script is started.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.conventions import add_quick, apply_sizes, machine_header
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN
from hub.rules import Party, Policy, PolicyAction, demo_policy_bytes, load_policy

TARGET_US = 50.0
TYPES = ("travel_document", "decision", "case_info", "passport")

Question = tuple[Party, PolicyAction, str, str | None]


def _percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))])


def _questions(parties: list[Party], count: int, seed: int) -> list[Question]:
    others = [p.code for p in parties]
    mix: list[Question] = [
        (party, action, type_, uploader)
        for party in parties
        for action in PolicyAction
        for type_ in TYPES
        for uploader in (None, party.code, next(o for o in others if o != party.code))
    ]
    rng = random.Random(seed)
    return [rng.choice(mix) for _ in range(count)]


def _time_each(policy: Policy, questions: list[Question]) -> list[int]:
    clock = time.perf_counter_ns
    decide = policy.decide
    samples = []
    for party, action, type_, uploader in questions:
        start = clock()
        decide(party, action, type_, uploader=uploader)
        samples.append(clock() - start)
    return samples


def _time_loop(policy: Policy, questions: list[Question]) -> float:
    decide = policy.decide
    start = time.perf_counter_ns()
    for party, action, type_, uploader in questions:
        decide(party, action, type_, uploader=uploader)
    return (time.perf_counter_ns() - start) / len(questions)


def _clock_cost(count: int) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(count):
        start = clock()
        samples.append(clock() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_quick(parser)
    parser.add_argument("--iterations", type=int, default=None, help="500000; 20000 with --quick")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    apply_sizes(args, iterations=(500_000, 20_000))
    print("\n".join(machine_header(quick=args.quick)), flush=True)

    organisations = {seed.code: seed.kind for seed in CHAIN + DEMO_GEMEENTEN}
    data = demo_policy_bytes()
    loads = []
    for _ in range(50):
        start = time.perf_counter_ns()
        policy = load_policy(data, source="demo.yaml", organisations=organisations)
        loads.append(time.perf_counter_ns() - start)

    parties = [Party(code, kind) for code, kind in organisations.items()]
    questions = _questions(parties, args.iterations, args.seed)
    _time_each(policy, questions[:10_000])  # warm up
    gc.collect()
    samples = _time_each(policy, questions)
    amortised = _time_loop(policy, questions)
    allowed = sum(policy.decide(p, a, t, uploader=u).allowed for p, a, t, u in questions)

    readable = []
    scopes = []
    for party in parties * 2000:
        start = time.perf_counter_ns()
        policy.readable_types(party)
        readable.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        policy.share_scope(party, "case_info")
        scopes.append(time.perf_counter_ns() - start)

    median_us = statistics.median(samples) / 1000
    p99_us = _percentile(samples, 0.99) / 1000
    print(f"load demo policy:   median {statistics.median(loads) / 1e6:.2f} ms")
    print(
        f"decide ({len(samples):,} calls, {allowed / len(questions):.0%} allowed): "
        f"median {median_us:.3f} µs, p99 {p99_us:.3f} µs, max {max(samples) / 1000:.1f} µs "
        f"(timer cost {_clock_cost(10_000) / 1000:.3f} µs included)"
    )
    print(f"decide amortised:   {amortised / 1000:.3f} µs per call in one loop")
    print(f"readable_types:     median {statistics.median(readable) / 1000:.3f} µs")
    print(f"share_scope:        median {statistics.median(scopes) / 1000:.3f} µs")
    met = "met" if median_us <= TARGET_US else "NOT met"
    print(f"target median decide <= {TARGET_US:.0f} µs: {met}")


if __name__ == "__main__":
    main()
