"""Settings: defaults, derived values, and refusing insecure settings in production."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.config import Environment, Settings, TrustedIssuerSettings

PUBLIC_ISSUER = "https://hub.example.nl"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KETENHUB_"):
            monkeypatch.delenv(name)
    # Production needs the hub's public https issuer; the tests of that refusal remove it.
    monkeypatch.setenv("KETENHUB_ISSUER", PUBLIC_ISSUER)


def test_defaults_are_the_embedded_setup() -> None:
    settings = Settings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.data_dir == Path("var")
    assert settings.resolved_database_url == f"sqlite:///{Path('var/ketenhub.db').resolve()}"
    assert settings.s3_bucket is None
    assert settings.storage_path == Path("var/objects")
    assert settings.resolved_key_file == Path("var/keys/keyring.json")


def test_settings_come_from_ketenhub_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETENHUB_DATA_DIR", "/srv/ketenhub")
    monkeypatch.setenv("KETENHUB_STORAGE_URL", "s3://documents")
    monkeypatch.setenv("KETENHUB_S3_ENDPOINT", "https://s3.example.nl")
    monkeypatch.setenv("KETENHUB_S3_ACCESS_KEY", "access")
    monkeypatch.setenv("KETENHUB_S3_SECRET_KEY", "secret")
    monkeypatch.setenv("KETENHUB_S3_REGION", "eu-west-1")
    settings = Settings()
    connection = settings.s3_connection
    assert connection is not None
    assert connection.bucket == "documents"
    assert connection.endpoint == "https://s3.example.nl"
    assert connection.region == "eu-west-1"
    assert connection.secret_key.get_secret_value() == "secret"
    assert settings.resolved_key_file == Path("/srv/ketenhub/keys/keyring.json")


def test_secrets_do_not_appear_in_repr() -> None:
    settings = Settings(
        database_url="postgresql://hub:hunter2@db.example.nl/ketenhub?sslmode=verify-full",
        storage_url="s3://documents",
        s3_endpoint="https://s3.example.nl",
        s3_access_key="access",
        s3_secret_key="topsecret",
    )
    assert "hunter2" not in repr(settings)
    assert "topsecret" not in repr(settings)


def test_s3_store_needs_endpoint_and_credentials() -> None:
    with pytest.raises(ValidationError, match="KETENHUB_S3_ENDPOINT, KETENHUB_S3_ACCESS_KEY"):
        Settings(storage_url="s3://documents")


@pytest.mark.parametrize("url", ["s3://", "s3://bucket/path", "s3://bucket?x=1", "http://x/y"])
def test_malformed_storage_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="KETENHUB_STORAGE_URL"):
        Settings(
            storage_url=url,
            s3_endpoint="https://s3.example.nl",
            s3_access_key="a",
            s3_secret_key="b",
        )


def test_s3_endpoint_must_be_http_or_https() -> None:
    with pytest.raises(ValidationError, match="http:// or https://"):
        Settings(storage_url="s3://b", s3_endpoint="ftp://x", s3_access_key="a", s3_secret_key="b")


def test_production_refuses_plain_http_to_a_remote_s3() -> None:
    with pytest.raises(ValidationError, match="plain http to another host"):
        Settings(
            storage_url="s3://b",
            s3_endpoint="http://s3.example.nl",
            s3_access_key="a",
            s3_secret_key="b",
        )


def test_production_allows_plain_http_to_a_loopback_s3() -> None:
    Settings(
        storage_url="s3://b",
        s3_endpoint="http://127.0.0.1:7482",
        s3_access_key="a",
        s3_secret_key="b",
    )


def test_development_allows_plain_http_to_a_remote_s3() -> None:
    Settings(
        environment=Environment.DEVELOPMENT,
        storage_url="s3://b",
        s3_endpoint="http://s3.example.nl",
        s3_access_key="a",
        s3_secret_key="b",
    )


def test_production_refuses_remote_postgres_without_tls() -> None:
    with pytest.raises(ValidationError, match="without TLS"):
        Settings(database_url="postgresql://hub@db.example.nl/ketenhub")


def test_production_accepts_remote_postgres_with_verified_tls() -> None:
    Settings(database_url="postgresql://hub@db.example.nl/ketenhub?sslmode=verify-full")


def test_production_accepts_local_postgres_without_tls() -> None:
    Settings(database_url="postgresql://hub@127.0.0.1:5432/ketenhub")


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ValidationError, match="environment"):
        Settings(environment="staging")  # type: ignore[arg-type]


def test_production_accepts_plain_text_to_declared_private_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KETENHUB_PRIVATE_NETWORK_HOSTS", '["postgres", "seaweedfs"]')
    settings = Settings(
        database_url="postgresql://hub@postgres:5432/ketenhub",
        storage_url="s3://b",
        s3_endpoint="http://seaweedfs:8333",
        s3_access_key="a",
        s3_secret_key="b",
    )
    assert settings.private_network_hosts == {"postgres", "seaweedfs"}


def test_declaring_one_private_host_does_not_trust_others() -> None:
    with pytest.raises(ValidationError, match="without TLS"):
        Settings(
            database_url="postgresql://hub@db.example.nl/ketenhub",
            private_network_hosts=frozenset({"postgres"}),
        )


def test_production_refuses_client_secret_authentication() -> None:
    with pytest.raises(ValidationError, match="client_secret_basic is for demos"):
        Settings(client_secret_auth=True)


def test_client_secrets_are_on_in_demo_and_off_elsewhere() -> None:
    assert Settings(environment=Environment.DEMO).allows_client_secret
    assert not Settings(environment=Environment.DEVELOPMENT).allows_client_secret
    assert not Settings().allows_client_secret


def test_issuer_must_be_https_except_on_loopback() -> None:
    with pytest.raises(ValidationError, match="KETENHUB_ISSUER must be https"):
        Settings(environment=Environment.DEVELOPMENT, issuer="http://hub.example.nl")
    Settings(issuer="https://hub.example.nl")
    Settings(environment=Environment.DEVELOPMENT, issuer="http://127.0.0.1:8000")


@pytest.mark.parametrize(
    "issuer",
    ["http://127.0.0.1:8000", "https://127.0.0.1:8443", "https://localhost", "http://[::1]:8000"],
)
def test_production_refuses_a_loopback_issuer(issuer: str) -> None:
    # The audit key is named after the issuer: "127.0.0.1:8000/audit" would be fixed into it.
    with pytest.raises(ValidationError, match="KETENHUB_ISSUER must be the hub's public https"):
        Settings(issuer=issuer)
    Settings(environment=Environment.DEVELOPMENT, issuer=issuer)


def test_production_refuses_the_default_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KETENHUB_ISSUER")
    with pytest.raises(ValidationError, match=re.escape("not http://127.0.0.1:8000")):
        Settings()
    assert Settings(environment=Environment.DEMO).resolved_audit_origin == "127.0.0.1:8000/audit"


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("mysql://hub:pw@db.example.nl/ketenhub", "mysql"),
        ("postgresql+psycopg2://hub@127.0.0.1/ketenhub", "postgresql+psycopg2"),
        ("oracle://hub@127.0.0.1/ketenhub", "oracle"),
    ],
)
def test_only_sqlite_and_postgresql_databases_are_accepted(url: str, scheme: str) -> None:
    with pytest.raises(ValidationError, match=rf"not {re.escape(scheme)}://") as refused:
        Settings(environment=Environment.DEVELOPMENT, database_url=url)
    assert "pw" not in str(refused.value)
    with pytest.raises(ValidationError, match="KETENHUB_DATABASE_OWNER_URL must be a sqlite"):
        Settings(
            environment=Environment.DEVELOPMENT,
            database_url="postgresql://hub@127.0.0.1/ketenhub",
            database_owner_url=url,
        )


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/ketenhub.db",
        "sqlite+pysqlite:///var/ketenhub.db",
        "postgresql://hub@127.0.0.1/ketenhub",
        "postgresql+psycopg://hub@127.0.0.1/ketenhub",
    ],
)
def test_sqlite_and_postgresql_databases_are_accepted(url: str) -> None:
    assert Settings(database_url=url).resolved_database_url == url


def test_trusted_proxies_are_addresses_and_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETENHUB_TRUSTED_PROXIES", '["172.30.250.2", "10.0.0.0/24", "fd00::/64"]')
    assert Settings().trusted_proxies == (
        ipaddress.ip_network("172.30.250.2/32"),
        ipaddress.ip_network("10.0.0.0/24"),
        ipaddress.ip_network("fd00::/64"),
    )
    assert Settings(environment=Environment.DEVELOPMENT).trusted_proxies != ()
    monkeypatch.delenv("KETENHUB_TRUSTED_PROXIES")
    assert Settings().trusted_proxies == ()


@pytest.mark.parametrize(
    ("proxies", "message"),
    [
        ('["10.0.0.7/24"]', "has host bits set"),
        ('["proxy.example.nl"]', "does not appear to be an IPv4 or IPv6 network"),
        ('["10.0.0.0/33"]', "10.0.0.0/33"),
    ],
)
def test_trusted_proxies_refuse_what_is_not_an_address_or_network(
    monkeypatch: pytest.MonkeyPatch, proxies: str, message: str
) -> None:
    monkeypatch.setenv("KETENHUB_TRUSTED_PROXIES", proxies)
    with pytest.raises(ValidationError, match=f"KETENHUB_TRUSTED_PROXIES: .*{re.escape(message)}"):
        Settings()


@pytest.mark.parametrize("everything", ["0.0.0.0/0", "::/0"])
def test_production_refuses_to_trust_every_address_as_a_proxy(everything: str) -> None:
    with pytest.raises(ValidationError, match="trusts every address"):
        Settings(trusted_proxies=(everything,))  # type: ignore[arg-type]
    Settings(environment=Environment.DEVELOPMENT, trusted_proxies=(everything,))  # type: ignore[arg-type]


def test_forwarded_header_is_one_of_the_two_known(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().forwarded_header == "x-forwarded-for"
    monkeypatch.setenv("KETENHUB_FORWARDED_HEADER", "forwarded")
    assert Settings().forwarded_header == "forwarded"
    monkeypatch.setenv("KETENHUB_FORWARDED_HEADER", "x-real-ip")
    with pytest.raises(ValidationError, match="forwarded_header"):
        Settings()


def test_issuer_with_a_trailing_slash_is_refused() -> None:
    with pytest.raises(ValidationError, match="trailing slash"):
        Settings(issuer="https://hub.example.nl/")


def test_token_lifetime_never_exceeds_an_hour() -> None:
    with pytest.raises(ValidationError, match="access_token_lifetime"):
        Settings(access_token_lifetime=3601)


def test_trusted_issuer_needs_https_jwks_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "KETENHUB_TRUSTED_ISSUERS",
        '[{"issuer": "https://idp.kmar.example", "jwks_url": "http://idp.kmar.example/jwks",'
        ' "allowed_scopes": ["documents:read"], "organisations": ["KMAR"]}]',
    )
    with pytest.raises(ValidationError, match="must use https"):
        Settings()


def test_trusted_issuer_with_unknown_scopes_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown scopes"):
        Settings(
            trusted_issuers=(
                TrustedIssuerSettings(
                    issuer="https://idp.example",
                    jwks_url="https://idp.example/jwks",
                    allowed_scopes=("everything",),
                    organisations=("KMAR",),
                ),
            )
        )


@pytest.mark.parametrize("organisations", ['"organisations": [], ', '"organisations": [""], ', ""])
def test_a_trusted_issuer_must_name_the_organisations_it_may_act_for(
    monkeypatch: pytest.MonkeyPatch, organisations: str
) -> None:
    """No default "any organisation": an entry without its list does not start (issue 11)."""
    monkeypatch.setenv(
        "KETENHUB_TRUSTED_ISSUERS",
        '[{"issuer": "https://idp.kmar.example", "jwks_url": "https://idp.kmar.example/jwks", '
        + organisations
        + '"allowed_scopes": ["documents:read"]}]',
    )
    with pytest.raises(ValidationError, match=r"idp\.kmar\.example: name the organisations"):
        Settings()
