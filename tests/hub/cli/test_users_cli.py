"""``ketenhub user …`` and the demo users of ``init --demo``, run as an operator would, against
real databases; what they leave is checked by logging in through the accounts service."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from audit.events import Action
from audit.models import AuditEvent
from auth import totp
from auth.people import Role
from hub.accounts.demo import DEMO_USERS
from hub.accounts.service import LoginRefused
from hub.config import Environment, Settings
from hub.core import db
from hub.runtime import Services, build_services
from hub.trail.context import Context
from tests.fixtures.cli import ketenhub_env, run_ketenhub
from tests.fixtures.secrets import register_secret

ISSUER = "http://127.0.0.1:8000"
LINK = re.compile(rf"^{re.escape(ISSUER)}/account/(activate|reset)/([A-Za-z0-9_-]{{43}})$", re.M)


@pytest.fixture
def env(tmp_path: Path, fresh_database_url: str) -> dict[str, str]:
    return ketenhub_env(
        tmp_path / "var",
        KETENHUB_DATABASE_URL=fresh_database_url,
        KETENHUB_ENVIRONMENT="demo",
        KETENHUB_ISSUER=ISSUER,
    )


@pytest.fixture
def services(env: dict[str, str]) -> Iterator[Services]:
    """The hub's services in this process, on what the commands set up (after ``init``)."""
    run_ketenhub(env, "init", "--demo")
    settings = Settings(
        environment=Environment.DEMO,
        data_dir=Path(env["KETENHUB_DATA_DIR"]),
        database_url=env["KETENHUB_DATABASE_URL"],
        issuer=ISSUER,
    )
    built = build_services(settings)
    try:
        yield built
    finally:
        built.close()


def _error(result: subprocess.CompletedProcess[str]) -> str:
    """The one line of a refused command (exit status 2)."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix("ketenhub: ")


def _login(services: Services, username: str, password: str, secret: str) -> None:
    context = Context.new(source_address=None)
    with db.transaction(services.engine) as session:
        ok = services.accounts.check_password(
            session, username=username, password=password, context=context
        )
        assert ok.enrolled
        code = totp.code_at(secret, totp.step_at(datetime.now(UTC)))
        services.accounts.check_code(session, user_id=ok.person.user_id, code=code, context=context)


def _events(services: Services, prefix: str) -> list[AuditEvent]:
    with Session(services.engine) as session:
        statement = (
            select(AuditEvent)
            .where(col(AuditEvent.action).startswith(prefix))
            .order_by(col(AuditEvent.seq))
        )
        return list(session.exec(statement).all())


def test_user_commands(env: dict[str, str], services: Services) -> None:
    added = run_ketenhub(
        env, "user", "add", "--org", "GM0363", "--username", "gm0363.jan", "--role", "caseworker"
    ).stdout
    assert "purpose       opvang" in added
    ((kind, token),) = LINK.findall(added)
    assert kind == "activate"
    # Not registered as a secret: the command's output, which the scan reads, is its hand-over.

    for args, message in (
        (["--org", "NOPE", "--username", "x.y", "--role", "caseworker"], "no organisation 'NOPE'"),
        (
            ["--org", "DTV", "--username", "dtv.x", "--role", "caseworker", "--role", "admin"],
            "a caseworker cannot also be admin (separation of duties)",
        ),
        (
            ["--org", "GM0363", "--username", "gm0363.jan", "--role", "caseworker"],
            "user 'gm0363.jan' exists already",
        ),
    ):
        assert _error(run_ketenhub(env, "user", "add", *args, check=False)) == message
    assert _error(run_ketenhub(env, "user", "unlock", "nobody", check=False)) == (
        "no user 'nobody'"
    )

    listing = json.loads(run_ketenhub(env, "user", "list", "--org", "GM0363", "--json").stdout)
    assert [(u["username"], u["state"]) for u in listing] == [
        ("gm0363.jan", "awaiting activation"),
        ("gm0363.medewerker", "active"),
    ]

    password = "a passphrase for jan"
    register_secret(password, "password")
    with db.transaction(services.engine) as session:
        person = services.accounts.redeem_action_token(
            session, token=token, new_password=password, context=Context.new()
        )
        enrolment = services.accounts.begin_enrolment(session, user_id=person.user_id)
        services.accounts.confirm_enrolment(
            session,
            user_id=person.user_id,
            code=totp.code_at(enrolment.secret_base32, totp.step_at(datetime.now(UTC)) - 1),
            context=Context.new(),
        )
    assert person.roles == frozenset({Role.CASEWORKER})
    _login(services, "gm0363.jan", password, enrolment.secret_base32)

    assert "disabled gm0363.jan" in run_ketenhub(env, "user", "disable", "gm0363.jan").stdout
    with pytest.raises(LoginRefused):
        _login(services, "gm0363.jan", password, enrolment.secret_base32)
    run_ketenhub(env, "user", "enable", "gm0363.jan")

    reset = run_ketenhub(env, "user", "reset-password", "gm0363.jan").stdout
    ((kind, _reset_token),) = LINK.findall(reset)
    assert kind == "reset"
    with pytest.raises(LoginRefused):  # the old password is gone
        _login(services, "gm0363.jan", password, enrolment.secret_base32)
    run_ketenhub(env, "user", "reset-factor", "gm0363.jan")
    run_ketenhub(env, "user", "unlock", "gm0363.jan")
    roles = run_ketenhub(env, "user", "roles", "gm0363.jan", "--role", "auditor").stdout
    assert "gm0363.jan now has the roles auditor" in roles
    listing = json.loads(run_ketenhub(env, "user", "list", "--json").stdout)
    jan = {u["username"]: u for u in listing}["gm0363.jan"]
    assert (jan["state"], jan["roles"]) == ("awaiting activation", ["auditor"])

    operator = [
        (e.action, e.actor_type, e.organisation)
        for e in _events(services, "user.")
        if e.actor_type == "operator" and e.resource_id == person.user_id
    ]
    assert operator == [
        (Action.USER_ADD, "operator", "GM0363"),
        (Action.USER_DISABLE, "operator", "GM0363"),
        (Action.USER_ENABLE, "operator", "GM0363"),
        (Action.USER_PASSWORD_RESET, "operator", "GM0363"),
        (Action.USER_FACTOR_RESET, "operator", "GM0363"),
        (Action.USER_UNLOCK, "operator", "GM0363"),
        (Action.USER_ROLE_CHANGE, "operator", "GM0363"),
    ]


def test_demo_users_log_in_with_the_file_and_are_kept_on_a_second_init(
    env: dict[str, str], services: Services
) -> None:
    credentials = Path(env["KETENHUB_DATA_DIR"]) / "demo-credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    first = json.loads(credentials.read_text())
    users = {u["username"]: u for u in first["users"]}
    for user in users.values():
        register_secret(user["password"], "demo password")
        register_secret(user["totp_secret"], "demo TOTP secret")
    assert set(users) == {u.username for u in DEMO_USERS}
    assert "gm0344.medewerker" in users
    assert users["dtv.auditor"]["roles"] == ["auditor"]
    assert users["dtv.beheerder"]["roles"] == ["admin"]
    assert len(first["clients"]) > 0

    second = run_ketenhub(env, "init", "--demo").stdout
    assert f"demo users    {len(DEMO_USERS)} (0 issued)" in second
    assert json.loads(credentials.read_text()) == first

    admin = users["dtv.beheerder"]
    _login(services, "dtv.beheerder", admin["password"], admin["totp_secret"])
    with Session(services.engine) as session:
        person = services.accounts.person(
            session, services.accounts.account(session, "dtv.beheerder").user_id
        )
    assert person is not None
    assert {str(s) for s in person.scopes} == {"admin"}
