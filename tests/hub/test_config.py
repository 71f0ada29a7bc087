"""Settings: defaults, derived values, and refusing insecure settings in production."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.config import Environment, Settings, TrustedIssuerSettings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KETENHUB_"):
            monkeypatch.delenv(name)


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
    Settings(issuer="http://127.0.0.1:8000")


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
        ' "allowed_scopes": ["documents:read"]}]',
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
                ),
            )
        )
