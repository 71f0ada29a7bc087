"""The ``ketenhub`` command line against real databases: in the test process
(``tests.fixtures.cli.run_ketenhub``), and as the program ``python -m hub.cli`` where the test
is about the process (the first test here, and ``serve``)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import ECKey
from sqlalchemy import text

from hub.accounts.demo import DEMO_USERS
from hub.core import db
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN
from tests.fixtures.cli import ketenhub_env, run_ketenhub, serving
from tests.fixtures.processes import free_port


@pytest.fixture
def env(tmp_path: Path, fresh_database_url: str) -> dict[str, str]:
    return ketenhub_env(
        tmp_path / "var", KETENHUB_DATABASE_URL=fresh_database_url, KETENHUB_ENVIRONMENT="demo"
    )


def _organisation_codes(database_url: str) -> set[str]:
    engine = db.make_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(connection.execute(text("SELECT code FROM organisation")).scalars())
    finally:
        engine.dispose()


def test_init_creates_data_dir_keys_database_and_organisations(
    env: dict[str, str], tmp_path: Path
) -> None:
    # As the program an operator runs: a new process, its own umask, its own output.
    result = run_ketenhub(env, "init", process=True)
    data_dir = tmp_path / "var"
    key_file = data_dir / "keys" / "keyring.json"
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o400
    assert (data_dir / "objects").is_dir()
    if env["KETENHUB_DATABASE_URL"].startswith("sqlite"):
        database = Path(env["KETENHUB_DATABASE_URL"].removeprefix("sqlite:///"))
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert _organisation_codes(env["KETENHUB_DATABASE_URL"]) == {o.code for o in CHAIN}
    assert "migrated to" in result.stdout


def test_init_demo_adds_the_demo_gemeenten(env: dict[str, str]) -> None:
    run_ketenhub(env, "init", "--demo")
    codes = _organisation_codes(env["KETENHUB_DATABASE_URL"])
    assert codes == {o.code for o in CHAIN + DEMO_GEMEENTEN}


def test_init_twice_is_safe(env: dict[str, str], tmp_path: Path) -> None:
    run_ketenhub(env, "init", "--demo")
    key_file = tmp_path / "var" / "keys" / "keyring.json"
    keys_before = key_file.read_bytes()
    second = run_ketenhub(env, "init", "--demo")
    assert key_file.read_bytes() == keys_before
    assert "(0 new)" in second.stdout
    assert "exists" in second.stdout


def test_init_registers_the_web_client_with_no_credential(env: dict[str, str]) -> None:
    first = run_ketenhub(env, "init").stdout
    assert "web client    created" in first
    assert "/login/callback)" in first
    assert "web client    exists" in run_ketenhub(env, "init").stdout
    listing = run_ketenhub(env, "client", "list").stdout
    line = next(row for row in listing.splitlines() if row.startswith("ketenhub-web"))
    assert "DTV" in line
    assert "enabled" in line  # a people's client: its scopes are cut per person, never held
    assert "in_process" in line
    assert "private_key_jwt" not in line
    assert "client_secret_basic" not in line


def test_init_demo_is_refused_in_production(env: dict[str, str], tmp_path: Path) -> None:
    env["KETENHUB_ENVIRONMENT"] = "production"
    env["KETENHUB_ISSUER"] = "https://hub.example.nl"
    result = run_ketenhub(env, "init", "--demo", check=False)
    assert result.returncode == 2
    assert "refusing to load demo data in production" in result.stderr
    assert not (tmp_path / "var").exists()


def test_invalid_configuration_is_one_clear_line(env: dict[str, str]) -> None:
    env["KETENHUB_STORAGE_URL"] = "s3://bucket"
    result = run_ketenhub(env, "init", check=False)
    assert result.returncode == 2
    assert "KETENHUB_S3_ENDPOINT" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    env = ketenhub_env(
        tmp_path / "var",
        KETENHUB_ISSUER="https://hub.example.nl",
        KETENHUB_DATABASE_URL=f"postgresql://nobody:pw-not-shown@127.0.0.1:{free_port()}/x",
        KETENHUB_DATABASE_OWNER_URL=f"postgresql://owner:pw-not-shown@127.0.0.1:{free_port()}/x",
    )
    result = run_ketenhub(env, "init", check=False)
    assert result.returncode == 1
    assert "database error" in result.stderr
    assert "pw-not-shown" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_keys_rotate_list_rewrap_retire(env: dict[str, str], tmp_path: Path) -> None:
    run_ketenhub(env, "init", "--demo")  # the demo users' factors are sealed secrets too
    ring = json.loads((tmp_path / "var" / "keys" / "keyring.json").read_text())
    first = ring["keks"][0]["id"]

    rotated = run_ketenhub(env, "keys", "rotate")
    ring = json.loads((tmp_path / "var" / "keys" / "keyring.json").read_text())
    second = ring["keks"][1]["id"]
    assert f"now use {second} (was {first})" in rotated.stdout

    listing = run_ketenhub(env, "keys", "list").stdout
    assert first in listing
    assert f"{second}" in listing
    assert "(current)" in listing.splitlines()[2]

    rewrapped = run_ketenhub(env, "keys", "rewrap").stdout
    assert (
        "re-wrapped 0 data keys, 1 signing keys, 2 audit keys, 2 v-number keys, "
        f"{len(DEMO_USERS)} user factor secrets, 1 web-session keys and 0 webhook secrets"
    ) in rewrapped
    run_ketenhub(env, "keys", "retire", first)
    ring = json.loads((tmp_path / "var" / "keys" / "keyring.json").read_text())
    assert [k["id"] for k in ring["keks"]] == [second]


def test_retiring_the_current_key_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    run_ketenhub(env, "init")
    current = json.loads((tmp_path / "var" / "keys" / "keyring.json").read_text())["keks"][0]["id"]
    result = run_ketenhub(env, "keys", "retire", current, check=False)
    assert result.returncode == 1
    assert "rotate first" in result.stderr


def test_commands_without_a_key_ring_say_to_run_init(env: dict[str, str]) -> None:
    result = run_ketenhub(env, "keys", "list", check=False)
    assert result.returncode == 1
    assert "ketenhub init" in result.stderr


def test_serve_refuses_an_unmigrated_database(env: dict[str, str], tmp_path: Path) -> None:
    run_ketenhub(env, "init")
    engine = db.make_engine(env["KETENHUB_DATABASE_URL"])
    try:
        db.downgrade(engine, "base")
    finally:
        engine.dispose()
    result = run_ketenhub(env, "serve", "--port", str(free_port()), check=False)
    assert result.returncode == 1
    assert "run `ketenhub init`" in result.stderr


def test_serve_refuses_a_broken_policy_naming_its_line(env: dict[str, str], tmp_path: Path) -> None:
    run_ketenhub(env, "init", "--demo")
    policy = tmp_path / "var" / "policy.yaml"
    lines = policy.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if "upload: [IOM" in line)
    lines[number - 1] = lines[number - 1].replace("[IOM", "[ACME, IOM")
    policy.write_text("\n".join(lines) + "\n")

    result = run_ketenhub(env, "serve", "--port", str(free_port()), check=False)

    assert result.returncode == 2
    assert result.stderr.startswith(f"ketenhub: {policy}:{number}:")
    assert "unknown organisation 'ACME'" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_installs_a_starter_policy_that_denies_everything(
    env: dict[str, str], tmp_path: Path
) -> None:
    printed = run_ketenhub(env, "init").stdout
    policy = (tmp_path / "var" / "policy.yaml").read_text()
    assert "document_types: {}" in policy
    assert "policy.yaml (written; sha256:" in printed
    assert "(exists;" in run_ketenhub(env, "init").stdout  # never overwritten


def test_serve_runs_the_hub(env: dict[str, str], tmp_path: Path) -> None:
    run_ketenhub(env, "init", "--demo")
    misplaced = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJlLW5vdC1yZWFs"
    with serving(env) as base:
        response = httpx.get(f"{base}/readyz", timeout=2)
        assert response.json()["status"] == "ready"
        assert response.headers["API-Version"] == "1.0.0"
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        # A client that wrongly puts a credential in the URL is refused, and the access log
        # keeps the path without the query.
        refused = httpx.get(
            f"{base}/api/v1/organisations",
            params={"access_token": misplaced, "v_number": "1234567890"},
        )
        assert refused.status_code == 401
        port = base.rsplit(":", 1)[1]
    output = (tmp_path / f"serve-{port}.log").read_text()
    # The default issuer is port 8000, not this one: serve says where logins would go.
    assert f"KETENHUB_ISSUER is http://127.0.0.1:8000, but this hub serves port {port}" in output
    assert "open http://127.0.0.1:8000/ and log in" in output  # demo: where to log in
    assert "GET /api/v1/organisations?… HTTP/1.1" in output
    assert misplaced not in output
    assert "1234567890" not in output


def test_retiring_a_kek_that_still_seals_the_signing_key_is_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    run_ketenhub(env, "init")
    first = json.loads((tmp_path / "var" / "keys" / "keyring.json").read_text())["keks"][0]["id"]
    run_ketenhub(env, "keys", "rotate")
    result = run_ketenhub(env, "keys", "retire", first, check=False)
    assert result.returncode == 1
    assert "signing keys are still sealed" in result.stderr


def test_init_demo_writes_private_demo_credentials(env: dict[str, str], tmp_path: Path) -> None:
    run_ketenhub(env, "init", "--demo")
    path = tmp_path / "var" / "demo-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    clients = {c["client_id"]: c for c in document["clients"]}
    organisations = {c["organisation"] for c in clients.values()}
    assert organisations == {o.code for o in CHAIN + DEMO_GEMEENTEN}
    auditor = clients["demo-auditor"]
    assert auditor["organisation"] == "DTV"
    assert auditor["scopes"] == ["audit:read"]
    for client in clients.values():
        assert set(client) >= {
            "client_id",
            "client_secret",
            "private_jwk",
            "organisation",
            "scopes",
        }
        assert client["private_jwk"]["d"]
        assert len(client["client_secret"]) >= 40


def test_init_demo_twice_keeps_the_credentials(env: dict[str, str], tmp_path: Path) -> None:
    run_ketenhub(env, "init", "--demo")
    path = tmp_path / "var" / "demo-credentials.json"
    before = path.read_text()
    assert "(0 issued)" in run_ketenhub(env, "init", "--demo").stdout
    assert path.read_text() == before


def test_init_demo_reissues_credentials_when_the_file_is_lost(
    env: dict[str, str], tmp_path: Path
) -> None:
    run_ketenhub(env, "init", "--demo")
    path = tmp_path / "var" / "demo-credentials.json"
    old = json.loads(path.read_text())["clients"][0]["client_secret"]
    path.unlink()
    assert "(14 issued)" in run_ketenhub(env, "init", "--demo").stdout
    assert json.loads(path.read_text())["clients"][0]["client_secret"] != old


def test_client_add_list_disable(env: dict[str, str], tmp_path: Path) -> None:
    run_ketenhub(env, "init")
    added = run_ketenhub(
        env,
        "client", "add", "--org", "IOM", "--name", "IOM case system",
        "--scopes", "documents:write documents:read", "--generate-key", "--client-id", "iom-cms",
    ).stdout  # fmt: skip
    assert "client_id     iom-cms" in added
    private_jwk = json.loads(added.split("forget it)\n", 1)[1].splitlines()[0])
    assert private_jwk["kty"] == "EC"
    assert "d" in private_jwk
    assert "client_secret" not in added
    listing = run_ketenhub(env, "client", "list").stdout
    assert "iom-cms" in listing
    assert "private_key_jwt" in listing
    assert "enabled" in listing
    run_ketenhub(env, "client", "disable", "iom-cms")
    assert "disabled" in run_ketenhub(env, "client", "list").stdout


def test_client_add_with_a_registered_jwks(env: dict[str, str], tmp_path: Path) -> None:
    run_ketenhub(env, "init")
    key = ECKey.generate_key("P-256", {"kid": "partner-key"}, private=True)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    added = run_ketenhub(
        env, "client", "add", "--org", "KMAR", "--name", "KMar", "--scopes", "documents:read",
        "--jwks", str(jwks),
    ).stdout  # fmt: skip
    assert "private_jwk" not in added


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "NOPE", "--scopes", "documents:read"], "no enabled organisation"),
        (["--org", "IOM", "--scopes", "everything"], "unknown scope"),
        (["--org", "IOM", "--scopes", "documents:read", "--purpose", "x"], "processing activity"),
    ],
    ids=["unknown-organisation", "unknown-scope", "unknown-purpose"],
)
def test_client_add_refuses_bad_input(env: dict[str, str], args: list[str], message: str) -> None:
    run_ketenhub(env, "init")
    result = run_ketenhub(env, "client", "add", "--name", "x", "--generate-key", *args, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_client_add_refuses_a_private_jwks(env: dict[str, str], tmp_path: Path) -> None:
    run_ketenhub(env, "init")
    key = ECKey.generate_key("P-256", {"kid": "oops"}, private=True)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    result = run_ketenhub(
        env, "client", "add", "--org", "IOM", "--name", "x", "--scopes", "documents:read",
        "--jwks", str(jwks), check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "private key" in result.stderr


def test_init_makes_the_session_key_and_keys_rotate_sessions_adds_one(
    env: dict[str, str],
) -> None:
    assert "session key   created web-session-1" in run_ketenhub(env, "init").stdout
    assert "session key   exists" in run_ketenhub(env, "init").stdout
    output = run_ketenhub(env, "keys", "rotate", "--sessions").stdout
    assert "web-session data is now encrypted under web-session-2" in output


def test_keys_rotate_signing(env: dict[str, str]) -> None:
    run_ketenhub(env, "init")
    output = run_ketenhub(env, "keys", "rotate", "--signing").stdout
    assert "tokens are now signed with sig-" in output
