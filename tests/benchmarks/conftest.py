"""Prints how long each benchmark's ``--quick`` run took, at the end of the test run."""

from __future__ import annotations

import pytest

# (benchmark file, seconds, exit status), filled by test_quick.py as each run ends.
QUICK_TIMES: list[tuple[str, float, int]] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not QUICK_TIMES:
        return
    terminalreporter.section("benchmarks --quick: seconds per run")
    for name, seconds, status in QUICK_TIMES:
        terminalreporter.write_line(f"{name:<24} {seconds:6.1f} s   exit {status}")
