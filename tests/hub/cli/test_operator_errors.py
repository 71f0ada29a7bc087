"""Configuration mistakes an operator makes, each answered in one line, never a traceback.

Exit status 2 for a configuration or usage error, 1 for a trail found broken; the line names
the setting or the file at fault, and never a secret. The commands run through their entry
point with their own environment and output (``tests.fixtures.cli.run_ketenhub``), as an
operator runs them, on a SQLite hub that ``init --demo`` set up: an exception that escaped
``main`` would fail the test as a traceback on stderr would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.core import db
from tests.fixtures.cli import ketenhub_env, run_ketenhub


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    made = tmp_path_factory.mktemp("operator") / "var"
    run_ketenhub(_env(made), "init", "--demo")
    return made


def _env(data_dir: Path, **overrides: str) -> dict[str, str]:
    return ketenhub_env(data_dir, KETENHUB_ENVIRONMENT="demo", **overrides)


def _one_line(result: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The command's one error line, without the ``ketenhub: `` prefix."""
    assert result.returncode == status, result.stdout + result.stderr
    assert result.stderr.startswith("ketenhub: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.removeprefix("ketenhub: ").strip()


# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["serve"], ["keys", "list"], ["audit", "verify"]])
def test_a_list_setting_that_is_not_json(data_dir: Path, command: list[str]) -> None:
    env = _env(data_dir, KETENHUB_TRUSTED_ISSUERS="https://idp.kmar.example")
    line = _one_line(run_ketenhub(env, *command, check=False))
    assert line == (
        "invalid configuration: KETENHUB_TRUSTED_ISSUERS is not valid JSON (Expecting value at "
        'line 1 column 1); lists are written as JSON, such as ["a", "b"]'
    )


def test_a_database_the_hub_does_not_support(data_dir: Path) -> None:
    env = _env(data_dir, KETENHUB_DATABASE_URL="mysql://hub:pw-not-shown@db.example.nl/ketenhub")
    line = _one_line(run_ketenhub(env, "init", check=False))
    assert "KETENHUB_DATABASE_URL must be a sqlite:/// or postgresql:// URL, not mysql://" in line
    assert "pw-not-shown" not in line


def test_a_secret_file_that_cannot_be_read(data_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "run" / "secrets" / "db_hub_url"
    env = _env(data_dir, KETENHUB_DATABASE_URL_FILE=str(missing))
    line = _one_line(run_ketenhub(env, "keys", "list", check=False))
    assert line == (
        f"invalid configuration: KETENHUB_DATABASE_URL_FILE: cannot read {missing}: "
        "No such file or directory"
    )


def test_a_secret_both_in_a_file_and_in_the_environment(data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{data_dir / 'ketenhub.db'}"
    secret = tmp_path / "db_url"
    secret.write_text(url + "\n")
    env = _env(data_dir, KETENHUB_DATABASE_URL_FILE=str(secret), KETENHUB_DATABASE_URL=url)
    line = _one_line(run_ketenhub(env, "keys", "list", check=False))
    assert line == (
        "invalid configuration: set KETENHUB_DATABASE_URL or KETENHUB_DATABASE_URL_FILE, not both"
    )


def test_the_database_url_from_a_file(data_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "db_url"
    secret.write_text(f"sqlite:///{data_dir / 'ketenhub.db'}\n")
    result = run_ketenhub(_env(data_dir, KETENHUB_DATABASE_URL_FILE=str(secret)), "client", "list")
    assert "demo-iom" in result.stdout


def test_a_secret_file_holding_a_bad_value_is_not_quoted(data_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "db_url"
    secret.write_text("postgresql+psycopg2://hub:pw-not-shown@db.example.nl/ketenhub\n")
    env = _env(data_dir, KETENHUB_DATABASE_URL_FILE=str(secret))
    line = _one_line(run_ketenhub(env, "keys", "list", check=False))
    assert "not postgresql+psycopg2://" in line
    assert "pw-not-shown" not in line


# -- files that are not there --------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["absent.yaml", "."])
def test_serve_without_a_policy_file(data_dir: Path, tmp_path: Path, policy: str) -> None:
    path = tmp_path / policy
    env = _env(data_dir, KETENHUB_POLICY_FILE=str(path))
    line = _one_line(run_ketenhub(env, "serve", "--port", "1", check=False))
    reason = "No such file or directory" if policy != "." else "Is a directory"
    assert line == f"{path}:1:1: cannot read the policy file (KETENHUB_POLICY_FILE): {reason}"


@pytest.mark.parametrize(
    "command",
    [
        ["audit", "verify"],
        ["audit", "checkpoint"],
        ["keys", "list"],
        ["client", "list"],
        ["documents", "expire"],
        ["storage", "check"],
        ["serve", "--port", "1"],
    ],
)
def test_a_mistyped_sqlite_path_is_never_created(
    data_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    typo = tmp_path / "typo" / "ketenhub.db"
    env = _env(data_dir, KETENHUB_DATABASE_URL=f"sqlite:///{typo}")
    line = _one_line(run_ketenhub(env, *command, check=False))
    assert line == (
        f"the database {typo} does not exist; check KETENHUB_DATABASE_URL (or "
        "KETENHUB_DATA_DIR), or run `ketenhub init` to create it"
    )
    assert not typo.parent.exists()


def test_an_unreadable_witness_checkpoint(data_dir: Path, tmp_path: Path) -> None:
    result = run_ketenhub(
        _env(data_dir), "audit", "verify", "--checkpoint", str(tmp_path), check=False
    )
    assert _one_line(result).startswith(f"cannot read checkpoint {tmp_path}: ")


@pytest.mark.parametrize(
    "content",
    ["", "hub.example.nl/audit\n5\nAAAA\n", "not a checkpoint at all\n\n— x y\n"],
    ids=["empty", "unsigned", "garbage"],
)
def test_a_witness_file_that_is_not_a_signed_checkpoint(
    data_dir: Path, tmp_path: Path, content: str
) -> None:
    kept = tmp_path / "kept.checkpoint"
    kept.write_text(content)
    result = run_ketenhub(_env(data_dir), "audit", "verify", "--checkpoint", str(kept), check=False)
    assert _one_line(result).startswith(
        f"the checkpoint file {kept} is not a valid checkpoint signed by this log's key: "
    )


# -- a trail damaged beyond appending -------------------------------------------------------------


def test_verify_with_every_tree_node_deleted(tmp_path: Path) -> None:
    env = _env(tmp_path / "var")
    run_ketenhub(env, "init", "--demo")  # a dozen events: nodes on several levels
    run_ketenhub(env, "audit", "checkpoint")
    engine = db.make_engine(f"sqlite:///{tmp_path / 'var' / 'ketenhub.db'}", create=False)
    try:
        with engine.begin() as connection:
            deleted = connection.execute(text("DELETE FROM audit_node")).rowcount
    finally:
        engine.dispose()
    assert deleted > 1

    result = run_ketenhub(env, "audit", "verify", check=False)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "tree nodes   0" in result.stdout
    problems = result.stderr.splitlines()
    assert problems[0] == "seq 0: tree node (1, 0) over seq 0..1 is missing"
    assert "this verification could not be recorded: the audit log has no tree node" in (
        result.stderr
    )
    assert problems[-1] == "ketenhub: audit trail NOT intact: first bad seq 0"
