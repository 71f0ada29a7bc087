"""The import direction of DESIGN.md (hub -> auth, storage, audit, and never back) and the
hub's own layers (docs/architecture.md): commands, the app, features, request wiring, runtime,
engines, tables and settings, core.

import-linter reads the contracts from pyproject.toml; this test runs it so a forbidden import
fails the suite, and proves that the contracts are live by linting a tree that breaks one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
    )


def test_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_a_storage_import_of_hub_breaks_the_contracts(tmp_path: Path) -> None:
    for package in ("hub", "storage", "auth", "audit"):
        shutil.copytree(ROOT / package, tmp_path / package)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "storage" / "leak.py").write_text("import hub.config\n")
    (tmp_path / "audit" / "leak.py").write_text("import storage.errors\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "storage.leak -> hub.config" in result.stdout
    assert "audit.leak -> storage.errors" in result.stdout


def test_an_engine_importing_a_feature_or_a_feature_another_breaks_the_layers(
    tmp_path: Path,
) -> None:
    for package in ("hub", "storage", "auth", "audit"):
        shutil.copytree(ROOT / package, tmp_path / package)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # An engine reaching up into a feature, a feature into another's internals, the core into
    # the request wiring: each a line of its own in the report.
    (tmp_path / "hub" / "access" / "leak.py").write_text("import hub.documents.service\n")
    (tmp_path / "hub" / "shares" / "leak.py").write_text("import hub.documents.form\n")
    (tmp_path / "hub" / "core" / "leak.py").write_text("import hub.web.deps\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "hub.access.leak -> hub.documents.service" in result.stdout
    assert "hub.shares.leak -> hub.documents.form" in result.stdout
    assert "hub.core.leak -> hub.web.deps" in result.stdout
