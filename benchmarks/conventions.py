"""What every benchmark shares: the header naming the machine, and the ``--quick`` switch.

Not a benchmark itself (``tests/benchmarks/test_quick.py`` runs every module here whose
docstring starts with "Benchmark"; this one is imported by them).

- :func:`machine_header`: the lines a benchmark prints first, so that figures pasted anywhere
  say what they were measured on: usable cores, CPU model, Python, kernel, load average.
- :func:`add_quick` and :func:`apply_sizes`: ``--quick`` is a smoke run, the same figures on
  small sizes in well under a minute, so that CI runs every benchmark and none can rot
  unnoticed. Each size option defaults to ``None``; an explicit value always wins, otherwise
  the full or the quick default applies. Quick figures are not comparable with full ones.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
from pathlib import Path
from typing import Final

QUICK_HELP: Final = "a smoke run: the same figures on small sizes, in well under a minute"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def machine_header(*, quick: bool = False) -> list[str]:
    """Cores, CPU, Python, kernel and load: the first lines of every benchmark's output."""
    cores = f"{len(os.sched_getaffinity(0))} usable (os.cpu_count {os.cpu_count()})"
    python = f"{platform.python_implementation()} {platform.python_version()}"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"cores: {cores}, CPU {cpu_model()}",
        f"Python {python}, {platform.system()} {platform.release()}",
        f"load average (1, 5, 15 min) at the start: {load}",
    ]
    if quick:
        lines.append("--quick: a smoke run on small sizes; do not compare with full runs")
    return lines


def add_quick(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help=QUICK_HELP)


def apply_sizes(args: argparse.Namespace, **sizes: tuple[object, object]) -> None:
    """Fill each size option left at ``None`` with its (full, quick) default."""
    for name, (full, quick) in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
