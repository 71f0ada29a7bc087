"""Every benchmark runs in its ``--quick`` mode, as a smoke test: none can rot unnoticed.

A benchmark is a module in ``benchmarks/`` whose docstring starts with "Benchmark" (all of
them do; helper modules such as ``benchmarks/conventions.py`` and the reference proxy that
``benchmarks/api.py`` starts do not). Each is found by that marker, so a new benchmark is
covered without editing this file, and each must run as ``python benchmarks/NAME.py --quick``:
exit status 0, and on its standard output the machine header (``cores: N usable``, the Python
version) and its targets (a line with "target", if only to say it has none). A benchmark
without ``--quick`` fails here (argparse exits 2).

It runs against the servers the other tests use, found the same way: PostgreSQL at
``KETENHUB_TEST_PG_ADMIN_URL`` (:mod:`tests.fixtures.databases`), passed as ``--postgres`` to
every benchmark that takes it, and SeaweedFS at ``KETENHUB_TEST_S3_SEAWEED_*``
(:mod:`tests.fixtures.stores`), passed on in the environment. What a developer's own
``KETENHUB_*`` settings say is not passed on. Nothing here asserts on time: the seconds each run
took are printed at the end of the test run (``tests/benchmarks/conftest.py``).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.benchmarks.conftest import QUICK_TIMES
from tests.fixtures.databases import ADMIN_URL
from tests.fixtures.stores import S3Server

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
# Generous: a quick run takes well under a minute on a quiet 2-core machine, but CI machines
# and the shared development machine are slower, and two of them start a hub process.
TIMEOUT_S = 420
HEADER = re.compile(r"^cores: \d+ usable", re.MULTILINE)
PYTHON = re.compile(r"\bPython (CPython )?\d+\.\d+", re.MULTILINE)
TARGET = re.compile(r"target", re.IGNORECASE)


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text("utf-8"), str(path))) or ""


def _has_main_block(path: Path) -> bool:
    """A module-level ``if __name__ == "__main__":`` that is the file's last statement."""
    body = ast.parse(path.read_text("utf-8"), str(path)).body
    last = body[-1] if body else None
    return isinstance(last, ast.If) and "__main__" in ast.unparse(last.test)


def benchmark_files() -> list[Path]:
    return sorted(p for p in BENCHMARKS.glob("*.py") if _docstring(p).startswith("Benchmark"))


def _marks(path: Path) -> list[pytest.MarkDecorator]:
    source = path.read_text("utf-8")
    marks = [pytest.mark.timeout(TIMEOUT_S + 60)]
    if '"--postgres"' in source:
        marks.append(pytest.mark.postgres)
    if "S3Settings" in source:
        marks.append(pytest.mark.s3)
    return marks


def _environment() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("KETENHUB_") or name.startswith("KETENHUB_TEST_")
    }
    seaweed = S3Server.from_environment("seaweed")
    env |= {
        "KETENHUB_TEST_S3_SEAWEED_ENDPOINT": seaweed.endpoint,
        "KETENHUB_TEST_S3_SEAWEED_ACCESS_KEY": seaweed.access_key,
        "KETENHUB_TEST_S3_SEAWEED_SECRET_KEY": seaweed.secret_key,
        "KETENHUB_TEST_PG_ADMIN_URL": ADMIN_URL,
        "PYTHONUNBUFFERED": "1",
    }
    return env


def test_benchmarks_are_found() -> None:
    """The marker finds the benchmarks (an empty glob would make the smoke test vacuous), and
    every one of them can be run as a script."""
    found = benchmark_files()
    assert {"api.py", "storage.py", "oauth.py"} <= {p.name for p in found}
    others = sorted(p.name for p in BENCHMARKS.glob("*.py") if p not in found)
    print(f"benchmarks: {[p.name for p in found]}; not benchmarks, not run: {others}")
    not_runnable = [p.name for p in found if not _has_main_block(p)]
    assert not not_runnable, (
        f"benchmarks without an `if __name__ == '__main__':` block: {not_runnable}"
    )


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=p.stem, marks=_marks(p)) for p in benchmark_files()]
)
def test_quick_run(path: Path, tmp_path: Path) -> None:
    command = [sys.executable, str(path), "--quick"]
    if '"--postgres"' in path.read_text("utf-8"):
        command += ["--postgres", ADMIN_URL]
    started = time.perf_counter()
    try:
        run = subprocess.run(
            command,
            cwd=ROOT,
            env=_environment() | {"TMPDIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        QUICK_TIMES.append((path.name, time.perf_counter() - started, -1))
        pytest.fail(f"{path.name} --quick ran longer than {TIMEOUT_S} s:\n{exc.stdout!r}")
    seconds = time.perf_counter() - started
    QUICK_TIMES.append((path.name, seconds, run.returncode))
    print(f"{path.name} --quick: {seconds:.1f} s, exit {run.returncode}")
    shown = f"stdout:\n{run.stdout[-6000:]}\nstderr:\n{run.stderr[-6000:]}"
    assert run.returncode == 0, f"{' '.join(command[1:])} exited {run.returncode}\n{shown}"
    assert HEADER.search(run.stdout), f"no machine header (cores: N usable)\n{shown}"
    assert PYTHON.search(run.stdout), f"no Python version in the header\n{shown}"
    assert TARGET.search(run.stdout), f"no targets printed\n{shown}"
