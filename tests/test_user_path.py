"""The path a user takes: a clean clone, `pip install .` without extras, and the README.

CI installs the development extras, which once hid a runtime dependency that only the test
extras declared: the README's first command failed on a fresh machine while every test passed.
These tests take the user's path instead, from a copy of what a clone of this commit holds:

- a fresh virtual environment with a plain, non-editable ``pip install .`` (no extras) imports
  every module and runs ``ketenhub init --demo`` and ``ketenhub serve`` to a ready ``/readyz``;
- ``./scripts/demo`` and ``./scripts/walkthrough`` (the README's quick start and story, which the
  README shows verbatim) run from the clone as written;
- every link in the README and ``docs/`` resolves inside the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import free_port, http_ready, running
from tests.fixtures.secrets import record_command

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "storage", "auth", "audit")
WALKTHROUGH_START = "<!-- walkthrough: scripts/walkthrough, verbatim (tests/test_user_path.py) -->"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def user_environment(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no hub settings, no virtual environment active."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KETENHUB_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def clean_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``git clone`` of this work tree's next commit holds: tracked files and new files
    that are not ignored, and nothing else (no .venv, no var/, no caches)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    clone = tmp_path_factory.mktemp("clone") / "ketenhub"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_file():  # deleted in the work tree but not yet in the index
            continue
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return clone


@pytest.fixture(scope="module")
def installed(clean_clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with ``pip install <clone>``: no extras, not editable."""
    target = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=True).create(target)
    python = target / "bin" / "python"
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "."],
        cwd=clean_clone,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert result.returncode == 0, f"pip install . failed:\n{result.stdout}\n{result.stderr}"
    return target


def test_every_module_imports_after_a_plain_install(installed: Path, tmp_path: Path) -> None:
    # Run from an empty directory, so nothing but the installed distribution can be imported.
    script = (
        "import importlib, pkgutil, sys\n"
        f"for name in {PACKAGES!r}:\n"
        "    package = importlib.import_module(name)\n"
        "    assert 'site-packages' in package.__file__, package.__file__\n"
        "    for module in pkgutil.walk_packages(package.__path__, name + '.'):\n"
        "        importlib.import_module(module.name)\n"
        "        print(module.name)\n"
    )
    result = subprocess.run(
        [str(installed / "bin" / "python"), "-c", script],
        cwd=tmp_path,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    for expected in ("hub.app", "hub.cli", "auth.tokens", "audit.verify", "storage.envelope"):
        assert expected in imported


def test_the_installed_command_initialises_and_serves(installed: Path, tmp_path: Path) -> None:
    ketenhub = str(installed / "bin" / "ketenhub")
    port = free_port()
    env = user_environment(
        KETENHUB_ENVIRONMENT="demo",
        KETENHUB_DATA_DIR=str(tmp_path / "var"),
        KETENHUB_ISSUER=f"http://127.0.0.1:{port}",
    )
    init = subprocess.run(
        [ketenhub, "init", "--demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    record_command(["init", "--demo"], env, stdout=init.stdout, stderr=init.stderr)
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "var" / "policy.yaml").is_file()  # package data came along
    log = tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    try:
        with running(
            [ketenhub, "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            log=log,
            ready=http_ready(f"{url}/readyz"),
        ):
            assert httpx.get(f"{url}/readyz").json()["status"] == "ready"
            # The API docs' files are package data: a plain install must carry them too.
            assert httpx.get(f"{url}/docs").status_code == 200
    finally:
        record_command(["serve"], env, stdout=log.read_text(errors="replace"), stderr="")


@pytest.fixture(scope="module")
def demo_hub(clean_clone: Path) -> Iterator[str]:
    """``./scripts/demo`` from the clean clone, exactly as the README says, on a free port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = user_environment(KETENHUB_ISSUER=url)
    log = clean_clone / "demo.log"
    try:
        # The first run creates .venv and installs the hub into it: minutes, not seconds.
        with running(
            ["./scripts/demo", "--port", str(port)],
            env=env,
            cwd=clean_clone,
            log=log,
            ready=http_ready(f"{url}/readyz"),
            timeout=540,
        ):
            yield url
    finally:
        record_command(["scripts/demo"], env, stdout=log.read_text(errors="replace"), stderr="")


def test_the_readme_walkthrough_runs_against_the_demo(clean_clone: Path, demo_hub: str) -> None:
    env = user_environment(KETENHUB_URL=demo_hub)
    result = subprocess.run(
        ["./scripts/walkthrough"],
        cwd=clean_clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    record_command(["scripts/walkthrough"], env, stdout=result.stdout, stderr=result.stderr)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "the bytes match the upload's sha256" in result.stdout
    assert "audit trail intact" in result.stdout
    # The story in the trail: the upload, GM0363's refusal, the share, its download, the
    # revocation and GM0363's refusal afterwards, each recorded with the rule that decided.
    assert "document.upload success IOM travel_document.upload[IOM]" in result.stdout
    assert re.search(r"document\.download success GM0363 share\[[0-9a-f-]{36}\]", result.stdout)
    assert "share.revoke success DTV" in result.stdout


def test_the_readme_shows_the_walkthrough_verbatim() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    script = (ROOT / "scripts" / "walkthrough").read_text("utf-8")
    assert WALKTHROUGH_START in readme
    shown = readme.split(WALKTHROUGH_START, 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    assert shown + "\n" == script, "README.md's walkthrough differs from scripts/walkthrough"


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("document", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(document: Path) -> None:
    for target in LINK.findall(document.read_text("utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # an absolute URL (https:, mailto:) or an anchor on the same page
        path = (document.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT), f"{document.name} links outside the repository: {target}"
        assert path.exists(), f"{document.name} links to a missing file: {target}"
