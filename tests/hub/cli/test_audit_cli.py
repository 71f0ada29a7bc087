"""``ketenhub audit verify|checkpoint`` and what the operator's commands record, run for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from hub.core import db
from tests.fixtures.audit import execute
from tests.fixtures.cli import ketenhub_env, run_ketenhub


@pytest.fixture
def env(tmp_path: Path, fresh_database_url: str) -> dict[str, str]:
    env = ketenhub_env(
        tmp_path / "var", KETENHUB_DATABASE_URL=fresh_database_url, KETENHUB_ENVIRONMENT="demo"
    )
    run_ketenhub(env, "init", "--demo")
    return env


def _actions(env: dict[str, str]) -> list[tuple[str, str, str | None]]:
    engine = db.make_engine(env["KETENHUB_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT action, actor_type, resource_id FROM audit_event ORDER BY seq")
            )
            return [(r.action, r.actor_type, r.resource_id) for r in rows]
    finally:
        engine.dispose()


def test_operator_commands_are_recorded(env: dict[str, str]) -> None:
    run_ketenhub(env, "client", "disable", "demo-nidos")
    run_ketenhub(env, "keys", "rotate")
    run_ketenhub(env, "keys", "rotate", "--signing")
    rotated = run_ketenhub(env, "keys", "rotate", "--audit").stdout
    actions = _actions(env)
    assert ("client.add", "operator", "demo-iom") in actions  # the demo clients of init
    assert ("client.disable", "operator", "demo-nidos") in actions
    rotations = [a for a in actions if a[0] == "key.rotate"]
    assert [r[2].split("-")[0] for r in rotations if r[2]][:2] == ["kek", "sig"]
    assert rotations[-1][2] is not None
    assert rotations[-1][2] in rotated


def test_verify_passes_an_intact_trail_and_a_kept_checkpoint(
    env: dict[str, str], tmp_path: Path
) -> None:
    signed = run_ketenhub(env, "audit", "checkpoint").stdout
    assert "exported to" in signed
    (exported,) = (tmp_path / "var" / "audit-checkpoints").iterdir()
    assert exported.stat().st_mode & 0o222 == 0  # written once, read-only
    run_ketenhub(env, "client", "disable", "demo-dji")
    result = run_ketenhub(env, "audit", "verify", "--checkpoint", str(exported))
    assert "audit trail intact" in result.stdout
    assert "your checkpoint of size" in result.stdout


def test_verify_names_the_first_bad_seq_after_an_edit(env: dict[str, str]) -> None:
    run_ketenhub(env, "audit", "checkpoint")
    engine = db.make_engine(env["KETENHUB_DATABASE_URL"])
    try:
        execute(engine, "UPDATE audit_event SET resource_id = 'demo-evil' WHERE seq = 3")
    finally:
        engine.dispose()
    result = run_ketenhub(env, "audit", "verify", check=False)
    assert result.returncode == 1
    assert "audit trail NOT intact: first bad seq 3" in result.stderr
    assert "seq 3: the stored event does not hash to its leaf hash" in result.stderr


def test_verify_catches_deleted_newest_events_with_the_exported_checkpoint(
    env: dict[str, str], tmp_path: Path
) -> None:
    run_ketenhub(env, "audit", "checkpoint")
    (exported,) = (tmp_path / "var" / "audit-checkpoints").iterdir()
    size = int(exported.name.split(".")[0])
    engine = db.make_engine(env["KETENHUB_DATABASE_URL"])
    try:
        execute(
            engine,
            f"DELETE FROM audit_event WHERE seq >= {size - 2}",
            f"DELETE FROM audit_node WHERE (idx + 1) * power(2, level) > {size - 2}",
            "DELETE FROM audit_checkpoint",
        )
    finally:
        engine.dispose()
    # Consistent with itself: only a checkpoint kept elsewhere shows what is gone. (This
    # verify records itself, as seq size - 2: the log has size - 1 events afterwards.)
    assert run_ketenhub(env, "audit", "verify", check=False).returncode == 0
    result = run_ketenhub(env, "audit", "verify", "--checkpoint", str(exported), check=False)
    assert result.returncode == 1
    assert f"first bad seq {size - 1}" in result.stderr
    assert "were deleted" in result.stderr


def test_a_checkpoint_file_with_a_bad_signature_fails_clearly(
    env: dict[str, str], tmp_path: Path
) -> None:
    run_ketenhub(env, "audit", "checkpoint")
    (exported,) = (tmp_path / "var" / "audit-checkpoints").iterdir()
    note = exported.read_text()
    body, signature = note.split("\n\n")
    flipped = signature[:-8] + ("B" if signature[-8] == "A" else "A") + signature[-7:]
    forged = tmp_path / "forged.checkpoint"
    forged.write_text(body + "\n\n" + flipped)
    result = run_ketenhub(env, "audit", "verify", "--checkpoint", str(forged), check=False)
    # A bad file, not a broken trail: a usage error naming the file, never "NOT intact".
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"ketenhub: the checkpoint file {forged} is not a valid checkpoint signed by this "
        "log's key: invalid signature for key "
    )
    assert result.stderr.count("\n") == 1
    assert "NOT intact" not in result.stderr


@pytest.mark.parametrize("content", [None, b"\xff\xfe not text", b"x" * 70_000])
def test_an_unusable_checkpoint_file_is_a_usage_error(
    env: dict[str, str], tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "kept.checkpoint"
    if content is not None:
        path.write_bytes(content)
    result = run_ketenhub(env, "audit", "verify", "--checkpoint", str(path), check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("ketenhub: ")
    assert "Traceback" not in result.stderr


def test_verify_is_itself_recorded_after_it_ran(env: dict[str, str]) -> None:
    before = len(_actions(env))
    run_ketenhub(env, "audit", "verify")
    after = _actions(env)
    assert len(after) == before + 1
    assert after[-1][:2] == ("audit.query", "operator")
