"""``ketenhub org …`` and ``ketenhub client …``, run as an operator would, against real databases.

The import file ``testdata/gemeenten.csv`` is saved as Dutch Excel saves "CSV UTF-8": a byte
order mark, semicolons and CRLF line ends, with real CBS codes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from sqlalchemy import delete, text
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from auth.models import OAuthClient
from auth.people import WEB_CLIENT_ID
from hub.config import Settings
from hub.core import db
from hub.core.cached import CUT_OFF
from tests.fixtures.cli import ketenhub_env, run_ketenhub
from tests.fixtures.documents import API, DocumentHub, pdf
from tests.fixtures.oauth import RegisteredClient
from tests.fixtures.secrets import register_secret

GEMEENTEN: Final = Path(__file__).parent / "testdata" / "gemeenten.csv"
CASEWORK: Final = "documents:read documents:write shares:write"
KINDS: Final = "rijk, gemeente, stichting, internationaal"
CONTROL: Final = "a control character"


@pytest.fixture
def env(tmp_path: Path, fresh_database_url: str) -> dict[str, str]:
    return ketenhub_env(
        tmp_path / "var", KETENHUB_DATABASE_URL=fresh_database_url, KETENHUB_ENVIRONMENT="demo"
    )


@pytest.fixture
def database(env: dict[str, str]) -> Iterator[Any]:
    """The command's database, to look at what the commands did (after ``init``)."""
    run_ketenhub(env, "init")
    engine = db.make_engine(env["KETENHUB_DATABASE_URL"])
    try:
        yield engine
    finally:
        db.dispose(engine)


def organisations(database: Any) -> dict[str, tuple[str, str, bool]]:
    with database.connect() as connection:
        rows = connection.execute(text("SELECT code, name, kind, enabled FROM organisation"))
        return {code: (name, kind, bool(enabled)) for code, name, kind, enabled in rows}


def operator_events(database: Any, prefix: str) -> list[AuditEvent]:
    with Session(database) as session:
        statement = (
            select(AuditEvent)
            .where(col(AuditEvent.action).startswith(prefix))
            .order_by(col(AuditEvent.seq))
        )
        found = list(session.exec(statement).all())
    assert all(event.actor_type == "operator" for event in found)
    return found


def one_line_error(result: Any, message: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


# -- org add, list, disable, enable ------------------------------------------------------------


def test_org_add_list_disable_enable(env: dict[str, str], database: Any) -> None:
    added = run_ketenhub(
        env, "org", "add", "--code", "GM0599", "--name", "Gemeente Rotterdam", "--kind", "gemeente"
    )
    assert added.stdout == "added GM0599 (gemeente, enabled): Gemeente Rotterdam\n"
    assert organisations(database)["GM0599"] == ("Gemeente Rotterdam", "gemeente", True)

    listing = run_ketenhub(env, "org", "list").stdout.splitlines()
    assert listing[0].split() == ["CODE", "KIND", "STATE", "CLIENTS", "NAME"]
    assert ["GM0599", "gemeente", "enabled", "0", "Gemeente", "Rotterdam"] in [
        line.split() for line in listing
    ]
    as_json = json.loads(run_ketenhub(env, "org", "list", "--json").stdout)
    assert {"code": "GM0599", "name": "Gemeente Rotterdam", "kind": "gemeente"}.items() <= next(
        o for o in as_json if o["code"] == "GM0599"
    ).items()

    disabled = run_ketenhub(env, "org", "disable", "GM0599").stdout
    assert "stop working within 2 seconds" in disabled
    assert organisations(database)["GM0599"][2] is False
    assert run_ketenhub(env, "org", "disable", "GM0599").stdout == "GM0599 was disabled already\n"
    run_ketenhub(env, "org", "enable", "GM0599")
    assert organisations(database)["GM0599"][2] is True

    found = [
        (e.action, e.resource_id, e.detail) for e in operator_events(database, "organisation.")
    ]
    assert found == [
        ("organisation.add", "GM0599", "kind gemeente"),
        ("organisation.disable", "GM0599", "disabled"),
        ("organisation.disable", "GM0599", "already disabled"),
        ("organisation.enable", "GM0599", "enabled"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--code", "GM0599", "--name", "x", "--kind", "rijk"], "only kind gemeente"),
        (["--code", "ROTTERDAM", "--name", "x", "--kind", "gemeente"], "CBS code"),
        (["--code", "gm0599", "--name", "x", "--kind", "gemeente"], "not an organisation code"),
        (["--code", "GM0599", "--name", "a\u202eb", "--kind", "gemeente"], "U+202E"),
        (["--code", "IND", "--name", "Nog een IND", "--kind", "rijk"], "IND exists already"),
    ],
    ids=["cbs-code-for-rijk", "gemeente-without-cbs-code", "lower-case", "bidi", "taken"],
)
def test_org_add_refuses_bad_input_in_one_line(
    env: dict[str, str], database: Any, args: list[str], message: str
) -> None:
    before = organisations(database)
    one_line_error(run_ketenhub(env, "org", "add", *args, check=False), message)
    assert organisations(database) == before


def test_org_disable_of_an_unknown_code_is_one_line(env: dict[str, str], database: Any) -> None:
    one_line_error(run_ketenhub(env, "org", "disable", "GM1999", check=False), "no organisation")


# -- org import --------------------------------------------------------------------------------


def test_org_import_adds_every_gemeente_once(
    env: dict[str, str], database: Any, tmp_path: Path
) -> None:
    dry = run_ketenhub(env, "org", "import", str(GEMEENTEN), "--dry-run").stdout
    assert dry.splitlines()[-1] == "38 would be added, 0 would be updated, 0 unchanged (dry run)"
    assert "GM0599" not in organisations(database)

    first = run_ketenhub(env, "org", "import", str(GEMEENTEN)).stdout
    assert first.splitlines()[-1] == "38 added, 0 updated, 0 unchanged"
    assert "added    GM1900 (gemeente): Gemeente Súdwest-Fryslân" in first
    known = organisations(database)
    assert known["GM0518"] == ("Gemeente 's-Gravenhage", "gemeente", True)
    assert known["GM1900"] == ("Gemeente Súdwest-Fryslân", "gemeente", True)
    assert len([code for code in known if code.startswith("GM")]) == 38

    again = run_ketenhub(env, "org", "import", str(GEMEENTEN)).stdout
    assert again == "0 added, 0 updated, 38 unchanged\n"

    # The same register as a plain comma-separated file, one gemeente renamed, one disabled.
    run_ketenhub(env, "org", "disable", "GM0014")
    renamed = tmp_path / "renamed.csv"
    lines = GEMEENTEN.read_text("utf-8-sig").splitlines()
    lines = [line.replace(";", ",") for line in lines]
    lines = [line.replace("'s-Gravenhage", "Den Haag") for line in lines]
    renamed.write_text("\n".join(lines) + "\n", "utf-8")
    third = run_ketenhub(env, "org", "import", str(renamed)).stdout.splitlines()
    assert "renamed  GM0518: \"Gemeente 's-Gravenhage\" -> 'Gemeente Den Haag'" in third
    assert "still disabled (an import does not enable): GM0014" in third
    assert third[-1] == "0 added, 1 updated, 37 unchanged"
    assert organisations(database)["GM0518"][0] == "Gemeente Den Haag"
    assert organisations(database)["GM0014"][2] is False

    events = [(e.action, e.resource_id) for e in operator_events(database, "organisation.")]
    assert len([e for e in events if e[0] == "organisation.add"]) == 38
    assert ("organisation.update", "GM0518") in events


def test_org_import_checks_every_row_and_imports_nothing_if_one_is_bad(
    env: dict[str, str], database: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "sep=;\n"
        "Kind;Code;Name\n"  # columns in another order, any case
        "gemeente;GM0599;Gemeente Rotterdam\n"
        "gemeente;GM12;Gemeente Twaalf\n"
        "rijk;GM0014;Groningen\n"
        "\n"
        "gemeente;GM0599;Rotterdam, nog eens\n"
        "gemeente;GM0034\n"
        "waterschap;WS0155;Hollandse Delta\n"
        'gemeente;GM0202;"Arnhem\x1b[2J"\n',
        "utf-8",
    )
    result = run_ketenhub(env, "org", "import", str(bad), check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"ketenhub: {bad}:4: a gemeente's code is its CBS code, GM and four digits, not 'GM12'",
        f"ketenhub: {bad}:5: GM0014 is a gemeente's CBS code; only kind gemeente may have it",
        f"ketenhub: {bad}:7: GM0599 is on line 3 too",
        f"ketenhub: {bad}:8: 2 fields, not 3 (code, name, kind; separated by ';')",
        f"ketenhub: {bad}:9: unknown kind 'waterschap'; use one of {KINDS}",
        f"ketenhub: {bad}:10: a name may hold printable characters only, not U+001B ({CONTROL})",
        f"ketenhub: nothing was imported from {bad}",
    ]
    assert "GM0599" not in organisations(database)
    assert operator_events(database, "organisation.") == []


def test_org_import_refuses_a_changed_kind(
    env: dict[str, str], database: Any, tmp_path: Path
) -> None:
    changed = tmp_path / "changed.csv"
    changed.write_text("code,name,kind\nGM0599,Rotterdam,gemeente\nIOM,IOM,stichting\n", "utf-8")
    result = run_ketenhub(env, "org", "import", str(changed), check=False)
    assert result.returncode == 2
    assert f"{changed}:3: IOM is of kind internationaal in the hub, not stichting" in result.stderr
    assert "GM0599" not in organisations(database)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("code;name;kind\nGM1900;Súdwest-Fryslân;gemeente\n".encode("cp1252"), "not UTF-8"),
        (b"", "empty"),
        (b"code,naam,soort\n", "the header must name the columns code, name and kind"),
        (b'code,name,kind\nGM0599,"Rotterdam,gemeente\n', "unexpected end of data"),
    ],
    ids=["windows-1252", "empty", "dutch-header", "open-quote"],
)
def test_org_import_refuses_a_file_it_cannot_read(
    env: dict[str, str], database: Any, tmp_path: Path, content: bytes, message: str
) -> None:
    source = tmp_path / "file.csv"
    source.write_bytes(content)
    result = run_ketenhub(env, "org", "import", str(source), check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_org_import_of_a_missing_file_is_one_line(env: dict[str, str], database: Any) -> None:
    result = run_ketenhub(env, "org", "import", "/nonexistent/gemeenten.csv", check=False)
    one_line_error(result, "cannot read /nonexistent/gemeenten.csv")


# -- clients -----------------------------------------------------------------------------------


def _client_list(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        c["client_id"]: c for c in json.loads(run_ketenhub(env, "client", "list", "--json").stdout)
    }


def test_client_list_shows_each_clients_state_and_last_use(
    env: dict[str, str], database: Any
) -> None:
    run_ketenhub(env, "init", "--demo")
    before = _client_list(env)
    assert set(before["demo-admin"]) == {
        "client_id",
        "name",
        "organisation",
        "scopes",
        "purpose",
        "methods",
        "jwks_uri",
        "created",
        "last_used",
        "state",
    }
    assert before["demo-admin"]["jwks_uri"] is None
    assert before["demo-admin"]["scopes"] == ["admin"]
    assert before["demo-metrics"]["scopes"] == ["metrics:read"]
    assert before["demo-iom"]["methods"] == ["private_key_jwt", "client_secret_basic"]
    assert before["demo-iom"]["last_used"] is None

    with db.transaction(database) as session:
        session.execute(text("UPDATE oauth_client SET last_used_at = created_at"))
    run_ketenhub(env, "org", "disable", "GM0344")
    run_ketenhub(env, "client", "disable", "demo-kmar")
    after = _client_list(env)
    assert after["demo-iom"]["last_used"] == after["demo-iom"]["created"]
    assert after["demo-gm0344"]["state"] == "organisation disabled"
    assert after["demo-kmar"]["state"] == "disabled"
    assert after["demo-iom"]["state"] == "enabled"

    table = run_ketenhub(env, "client", "list").stdout.splitlines()
    assert table[0].split() == [
        "CLIENT_ID", "ORG", "STATE", "SCOPES", "PURPOSE", "AUTH", "CREATED", "LAST", "USED", "NAME",
    ]  # fmt: skip
    assert any(line.startswith("demo-gm0344") and "organisation disabled" in line for line in table)

    # Outside demo mode client_secret_basic is off: the list says the secret cannot be used.
    development = {**env, "KETENHUB_ENVIRONMENT": "development"}
    methods = _client_list(development)["demo-iom"]["methods"]
    assert methods == ["private_key_jwt", "client_secret_basic (not accepted here)"]


def test_client_enable_is_recorded_and_refused_while_the_organisation_is_disabled(
    env: dict[str, str], database: Any
) -> None:
    added = run_ketenhub(
        env, "client", "add", "--org", "KMAR", "--name", "KMar", "--scopes", "documents:read",
        "--generate-key", "--client-id", "kmar-grens",
    )  # fmt: skip
    assert "client_id     kmar-grens" in added.stdout
    disabled = run_ketenhub(env, "client", "disable", "kmar-grens").stdout
    assert "stop working within 2 seconds" in disabled
    run_ketenhub(env, "org", "disable", "KMAR")
    one_line_error(
        run_ketenhub(env, "client", "enable", "kmar-grens", check=False),
        "belongs to KMAR, which is disabled; enable the organisation first",
    )
    another = run_ketenhub(
        env, "client", "add", "--org", "KMAR", "--name", "KMar 2", "--scopes", "documents:read",
        "--generate-key", check=False,
    )  # fmt: skip
    one_line_error(another, "organisation KMAR is disabled; enable it first")
    run_ketenhub(env, "org", "enable", "KMAR")
    run_ketenhub(env, "client", "enable", "kmar-grens")
    assert _client_list(env)["kmar-grens"]["state"] == "enabled"
    found = [
        (e.action, e.resource_id)
        for e in operator_events(database, "client.")
        if e.resource_id != WEB_CLIENT_ID  # registered by init
    ]
    assert found == [
        ("client.add", "kmar-grens"),
        ("client.disable", "kmar-grens"),
        ("client.enable", "kmar-grens"),
    ]
    one_line_error(run_ketenhub(env, "client", "enable", "nobody", check=False), "no client")


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ("audit:read documents:read", "(separation of duties)"),
        ("admin shares:write", "(separation of duties)"),
        ("metrics:read admin", "metrics:read is held alone"),
    ],
    ids=["auditor-and-reader", "admin-and-sharer", "metrics-with-more"],
)
def test_client_add_keeps_the_duties_apart(
    env: dict[str, str], database: Any, scopes: str, message: str
) -> None:
    result = run_ketenhub(
        env, "client", "add", "--org", "DTV", "--name", "x", "--scopes", scopes,
        "--generate-key", check=False,
    )  # fmt: skip
    one_line_error(result, message)
    with Session(database) as session:
        assert session.exec(select(OAuthClient).where(col(OAuthClient.name) == "x")).first() is None


def test_client_add_with_secret_is_refused_in_production(env: dict[str, str]) -> None:
    production = {
        **env,
        "KETENHUB_ENVIRONMENT": "production",
        "KETENHUB_ISSUER": "https://hub.example.nl",
    }
    result = run_ketenhub(
        production, "client", "add", "--org", "IOM", "--name", "IOM", "--scopes",
        "documents:read", "--generate-key", "--with-secret", check=False,
    )  # fmt: skip
    one_line_error(result, "--with-secret is refused in production")


def test_client_add_with_a_plain_http_jwks_uri_is_refused_in_production(
    env: dict[str, str], database: Any
) -> None:
    production = {
        **env,
        "KETENHUB_ENVIRONMENT": "production",
        "KETENHUB_ISSUER": "https://hub.example.nl",
    }
    result = run_ketenhub(
        production, "client", "add", "--org", "IOM", "--name", "IOM", "--scopes",
        "documents:read", "--jwks-uri", "http://iom.example/jwks.json", check=False,
    )  # fmt: skip
    one_line_error(result, "the jwks_uri must use https outside demo mode")
    with Session(database) as session:
        assert session.exec(select(OAuthClient).where(col(OAuthClient.name) == "IOM")).all() == []


def test_client_add_with_a_jwks_uri_in_development(env: dict[str, str], database: Any) -> None:
    development = {**env, "KETENHUB_ENVIRONMENT": "development"}
    uri = "http://127.0.0.1:8123/jwks.json"
    result = run_ketenhub(
        development, "client", "add", "--org", "IOM", "--name", "IOM", "--scopes",
        "documents:read", "--jwks-uri", uri,
    )  # fmt: skip
    assert f"jwks_uri      {uri}" in result.stdout
    assert "private_jwk" not in result.stdout
    client_id = result.stdout.split()[1]
    listed = _client_list(development)[client_id]
    assert listed["jwks_uri"] == uri
    assert listed["methods"] == ["private_key_jwt"]


def test_client_add_with_secret_where_secrets_are_off_warns(
    env: dict[str, str], database: Any
) -> None:
    development = {**env, "KETENHUB_ENVIRONMENT": "development"}
    result = run_ketenhub(
        development, "client", "add", "--org", "IOM", "--name", "IOM", "--scopes",
        "documents:read", "--generate-key", "--with-secret",
    )  # fmt: skip
    assert "client_secret " in result.stdout
    assert "does not accept client_secret_basic now" in result.stderr


def test_init_demo_adds_new_demo_clients_to_an_older_data_dir(
    env: dict[str, str], database: Any, tmp_path: Path
) -> None:
    """A demo data dir made before demo-admin and demo-metrics existed gets them, and keeps
    the credentials it had."""
    run_ketenhub(env, "init", "--demo")
    path = tmp_path / "var" / "demo-credentials.json"
    newer = ("demo-admin", "demo-metrics")
    document = json.loads(path.read_text())
    document["clients"] = [c for c in document["clients"] if c["client_id"] not in newer]
    path.write_text(json.dumps(document))
    with db.transaction(database) as session:
        session.execute(delete(OAuthClient).where(col(OAuthClient.client_id).in_(newer)))
    kept = {c["client_id"]: c for c in document["clients"]}

    assert "(2 issued)" in run_ketenhub(env, "init", "--demo").stdout
    clients = {c["client_id"]: c for c in json.loads(path.read_text())["clients"]}
    assert clients["demo-admin"]["scopes"] == ["admin"]
    assert clients["demo-metrics"]["scopes"] == ["metrics:read"]
    assert {k: clients[k] for k in kept} == kept


# -- a running hub sees what the commands did --------------------------------------------------


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment of ``ketenhub`` on the same database, keys and store as ``settings``."""
    env = ketenhub_env(
        settings.data_dir,
        KETENHUB_ENVIRONMENT="development",
        KETENHUB_ISSUER=settings.issuer,
        KETENHUB_DATABASE_URL=settings.resolved_database_url,
    )
    if settings.storage_url is not None:
        env["KETENHUB_STORAGE_URL"] = settings.storage_url
    for name in ("s3_endpoint", "s3_access_key", "s3_secret_key"):
        value = getattr(settings, name)
        if value is not None:
            secret = getattr(value, "get_secret_value", None)
            env[f"KETENHUB_{name.upper()}"] = secret() if secret else str(value)
    return env


def test_a_gemeente_added_with_the_cli_works_in_the_running_hub(
    documents_hub: DocumentHub,
) -> None:
    """No restart and no policy edit: the hub that is running takes GM0599 as a gemeente."""
    services = documents_hub.hub.services
    policy_hash = services.policy.hash
    env = cli_env(services.settings)
    run_ketenhub(
        env, "org", "add", "--code", "GM0599", "--name", "Gemeente Rotterdam", "--kind", "gemeente"
    )
    added = run_ketenhub(
        env, "client", "add", "--org", "GM0599", "--name", "Rotterdam zaaksysteem",
        "--scopes", CASEWORK, "--purpose", "opvang", "--generate-key",
        "--client-id", "gm0599-zaken",
    ).stdout  # fmt: skip
    private_jwk = json.loads(added.split("forget it)\n", 1)[1].splitlines()[0])
    register_secret(private_jwk["d"], "client private JWK")
    client = RegisteredClient("gm0599-zaken", None, private_jwk, "GM0599", CASEWORK)
    headers = {"Authorization": f"Bearer {documents_hub.hub.token(client)}"}
    # The running hub learns of the new organisation when its directory cache next refreshes,
    # within CUT_OFF seconds (the bound a disabled organisation is cut off within, too).
    deadline = time.monotonic() + CUT_OFF + 2
    while documents_hub.client.get(f"{API}/documents", headers=headers).status_code == 401:
        assert time.monotonic() < deadline, f"GM0599 unknown to the hub after {CUT_OFF + 2} s"
        time.sleep(0.25)

    case = "4200000001"
    uploaded = documents_hub.client.post(
        f"{API}/documents",
        data={"document_type": "case_info", "v_number": case},
        files={"file": ("dossier.pdf", pdf(seed=7), "application/octet-stream")},
        headers=headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    travel = documents_hub.uploaded("IOM", pdf(seed=8), v_number=case)["id"]
    shared = documents_hub.share(
        "DTV", grantee="GM0599", v_number=case, document_types=["travel_document"]
    )
    assert shared.status_code == 201, shared.text
    content = documents_hub.client.get(f"{API}/documents/{travel}/content", headers=headers)
    assert content.status_code == 200
    assert services.policy.hash == policy_hash
