"""What production refuses, run as an operator runs the commands (``KETENHUB_ENVIRONMENT`` left
at its default, ``production``): each refusal is one line naming the setting or the objects at
fault, exit status 2, and nothing is set up or served.

PostgreSQL cases use scratch roles (``tests.fixtures.roles``): a deployment whose owner role
migrated and granted the hub's role, and then the roles it must not be served as.
"""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from hub.accounts.demo import DEMO_USERS
from hub.clients.demo import DEMO_CLIENTS
from tests.fixtures.cli import ketenhub_env, run_ketenhub, serving
from tests.fixtures.databases import ADMIN_URL
from tests.fixtures.roles import Scratch, admin, connect, scratch_roles

ISSUER = "https://hub.example.nl"
ORIGIN = "hub.example.nl/audit"


def _production(data_dir: Path, **overrides: str) -> dict[str, str]:
    return ketenhub_env(data_dir, KETENHUB_ISSUER=ISSUER, **overrides)


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line of a refusal (exit 2), without the ``ketenhub: `` prefix."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("ketenhub: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.removeprefix("ketenhub: ").strip()


# -- settings ------------------------------------------------------------------------------------


def test_init_refuses_the_loopback_default_issuer(tmp_path: Path) -> None:
    result = run_ketenhub(ketenhub_env(tmp_path / "var"), "init", check=False)
    assert "KETENHUB_ISSUER must be the hub's public https:// URL, not http://127.0.0.1:8000" in (
        _refused(result)
    )
    assert not (tmp_path / "var").exists()


# -- database roles ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deployment:
    """A database owned by ``owner``, set up by ``ketenhub init`` in production for ``hub``."""

    scratch: Scratch
    owner: str
    hub: str
    database: str
    data_dir: Path

    def env(self, role: str | None = None, **overrides: str) -> dict[str, str]:
        """The hub's production environment, connected as ``role`` (the hub's by default)."""
        url = Scratch.url(role or self.hub, self.database)
        return _production(self.data_dir, KETENHUB_DATABASE_URL=url, **overrides)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with scratch_roles() as scratch:
        owner, hub = scratch.role("owner"), scratch.role("hub")
        made = Deployment(
            scratch,
            owner,
            hub,
            scratch.database(owner=owner),
            tmp_path_factory.mktemp("production") / "var",
        )
        owner_url = Scratch.url(owner, made.database)
        result = run_ketenhub(made.env(KETENHUB_DATABASE_OWNER_URL=owner_url), "init")
        assert f"granted hub role {hub}" in result.stdout
        yield made


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["init", "migrate"])
def test_migrating_on_postgresql_needs_the_owner_role(
    deployment: Deployment, tmp_path: Path, command: str
) -> None:
    env = _production(
        tmp_path / "var", KETENHUB_DATABASE_URL=Scratch.url(deployment.hub, deployment.database)
    )
    refusal = _refused(run_ketenhub(env, command, check=False))
    assert refusal.startswith("refusing to migrate in production as the hub's own role")
    assert "set KETENHUB_DATABASE_OWNER_URL" in refusal
    assert not (tmp_path / "var").exists()


@pytest.mark.postgres
def test_the_hub_serves_as_its_own_role(deployment: Deployment) -> None:
    key_file = deployment.data_dir / "keys" / "keyring.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o400
    with serving(deployment.env()) as base:
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"


@pytest.mark.postgres
def test_serving_as_a_superuser_is_refused(deployment: Deployment) -> None:
    superuser = make_url(ADMIN_URL).username or "postgres"
    refusal = _refused(run_ketenhub(deployment.env(superuser), "serve", check=False))
    assert refusal == (
        f"refusing to serve in production: KETENHUB_DATABASE_URL: the hub's role {superuser} "
        "is a superuser, which no privilege binds"
    )


@pytest.mark.postgres
def test_serving_as_the_owner_role_is_refused(deployment: Deployment) -> None:
    refusal = _refused(run_ketenhub(deployment.env(deployment.owner), "serve", check=False))
    # The owner of the database is also a member of pg_database_owner, the owner of public.
    assert refusal == (
        f"refusing to serve in production: KETENHUB_DATABASE_URL: the hub's role "
        f"{deployment.owner} is, or is a member of, {deployment.owner}, pg_database_owner, "
        "which owns the schema or tables in it; run the hub as a role that owns nothing and "
        "belongs to no owner (see the README's Database roles)"
    )


@pytest.mark.postgres
def test_serving_as_a_member_of_the_owner_role_is_refused(deployment: Deployment) -> None:
    member = deployment.scratch.role("member")
    with admin() as conn:
        conn.execute(
            sql.SQL("GRANT {} TO {}").format(
                sql.Identifier(deployment.owner), sql.Identifier(member)
            )
        )
    refusal = _refused(run_ketenhub(deployment.env(member), "serve", check=False))
    assert f"the hub's role {member} is, or is a member of, {deployment.owner}" in refusal


@pytest.mark.postgres
def test_serving_as_a_role_that_can_rewrite_the_trail_is_refused(deployment: Deployment) -> None:
    # Granted as the hub's role should be, and then given UPDATE through another role.
    other, editor = deployment.scratch.role("hub"), deployment.scratch.role("editor")
    owner_url = Scratch.url(deployment.owner, deployment.database)
    run_ketenhub(deployment.env(other, KETENHUB_DATABASE_OWNER_URL=owner_url), "migrate")
    with connect(owner_url) as conn:
        conn.execute(sql.SQL("GRANT UPDATE ON audit_event TO {}").format(sql.Identifier(editor)))
    with admin() as conn:
        conn.execute(
            sql.SQL("GRANT {} TO {}").format(sql.Identifier(editor), sql.Identifier(other))
        )
    refusal = _refused(run_ketenhub(deployment.env(other), "serve", check=False))
    assert refusal.startswith(
        f"refusing to serve in production: KETENHUB_DATABASE_URL: the hub's role {other} can "
        "UPDATE, DELETE or TRUNCATE audit_event"
    )


# -- demo data and the key file ------------------------------------------------------------------


@pytest.fixture
def demo_data_dir(tmp_path: Path) -> Path:
    """A data dir that ``init --demo`` set up (SQLite), to be served in production."""
    data_dir = tmp_path / "var"
    run_ketenhub(
        ketenhub_env(
            data_dir,
            KETENHUB_ENVIRONMENT="demo",
            KETENHUB_ISSUER=ISSUER,
            KETENHUB_AUDIT_ORIGIN=ORIGIN,
        ),
        "init",
        "--demo",
    )
    return data_dir


def test_serving_with_demo_clients_or_users_enabled_is_refused(demo_data_dir: Path) -> None:
    env = _production(demo_data_dir, KETENHUB_AUDIT_ORIGIN=ORIGIN)
    everyone = sorted(client.client_id for client in DEMO_CLIENTS)
    refusal = _refused(run_ketenhub(env, "serve", check=False))
    assert refusal == (
        f"refusing to serve in production with {len(everyone)} demo clients enabled "
        f"({', '.join(everyone)}): their secrets are in demo-credentials.json; disable them "
        "(`ketenhub client disable CLIENT_ID`), or set KETENHUB_ENVIRONMENT=demo"
    )
    for client_id in everyone[1:]:
        run_ketenhub(env, "client", "disable", client_id)
    assert f"1 demo clients enabled ({everyone[0]})" in _refused(
        run_ketenhub(env, "serve", check=False)
    )
    run_ketenhub(env, "client", "disable", everyone[0])
    # Then the demo users, whose passwords and factors sit in the same file.
    people = sorted(user.username for user in DEMO_USERS)
    assert _refused(run_ketenhub(env, "serve", check=False)) == (
        f"refusing to serve in production with {len(people)} demo users enabled "
        f"({', '.join(people)}): their passwords and factors are in demo-credentials.json; "
        "disable them (`ketenhub user disable USERNAME`), or set KETENHUB_ENVIRONMENT=demo"
    )
    for username in people:
        run_ketenhub(env, "user", "disable", username)
    with serving(env) as base:
        assert httpx.get(f"{base}/readyz").status_code == 200


def test_a_writable_key_file_is_refused(demo_data_dir: Path) -> None:
    key_file = demo_data_dir / "keys" / "keyring.json"
    key_file.chmod(0o600)
    env = _production(demo_data_dir, KETENHUB_AUDIT_ORIGIN=ORIGIN)
    for command in (["serve"], ["keys", "list"]):
        refusal = _refused(run_ketenhub(env, *command, check=False))
        assert refusal.endswith(
            f"key file {key_file} has mode 0600: it is writable, which production refuses "
            f"(chmod 400 {key_file})"
        )
    # Outside production the owner may keep write permission.
    run_ketenhub({**env, "KETENHUB_ENVIRONMENT": "demo"}, "keys", "list")
