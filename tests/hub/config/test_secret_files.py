"""Secret settings from files: ``KETENHUB_<NAME>_FILE``, as compose and Kubernetes hand them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from hub.config import Environment, Settings
from hub.config.secret_files import MAX_SECRET_FILE, SecretFileError, is_secret

SECRETS = sorted(name for name, field in Settings.model_fields.items() if is_secret(field))
_VALUES = {
    "database_url": "postgresql://hub:pw-from-a-file@127.0.0.1/ketenhub",
    "database_owner_url": "postgresql://owner:pw-from-a-file@127.0.0.1/ketenhub",
    "s3_access_key": "access-from-a-file",
    "s3_secret_key": "secret-from-a-file",
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KETENHUB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KETENHUB_ENVIRONMENT", "development")


def _secret_file(tmp_path: Path, content: bytes, name: str = "secret") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_every_secret_setting_is_known() -> None:
    # A SecretStr setting added later gets its _FILE variable by itself; this names today's.
    assert sorted(_VALUES) == SECRETS


@pytest.mark.parametrize("name", SECRETS)
def test_each_secret_setting_reads_its_file(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _secret_file(tmp_path, _VALUES[name].encode() + b"\n")
    monkeypatch.setenv(f"KETENHUB_{name.upper()}_FILE", str(path))
    if name == "database_owner_url":
        monkeypatch.setenv("KETENHUB_DATABASE_URL", _VALUES["database_url"])
    value = getattr(Settings(), name)
    assert isinstance(value, SecretStr)
    assert value.get_secret_value() == _VALUES[name]


@pytest.mark.parametrize(
    ("content", "value"),
    [
        (b"s3cret", "s3cret"),
        (b"s3cret\n", "s3cret"),
        (b"s3cret\r\n", "s3cret"),
        (b"s3cret\n\n", "s3cret\n"),
        (b" s3cret \n", " s3cret "),
    ],
)
def test_one_trailing_newline_is_stripped_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, value: str
) -> None:
    monkeypatch.setenv("KETENHUB_S3_SECRET_KEY_FILE", str(_secret_file(tmp_path, content)))
    secret = Settings().s3_secret_key
    assert secret is not None
    assert secret.get_secret_value() == value


def test_the_variable_and_its_file_together_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KETENHUB_S3_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("KETENHUB_S3_SECRET_KEY_FILE", str(_secret_file(tmp_path, b"x")))
    with pytest.raises(
        SecretFileError, match="set KETENHUB_S3_SECRET_KEY or KETENHUB_S3_SECRET_KEY_FILE"
    ):
        Settings()


def test_names_match_case_insensitively_like_the_plain_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ketenhub_s3_secret_key_file", str(_secret_file(tmp_path, b"lower\n")))
    secret = Settings().s3_secret_key
    assert secret is not None
    assert secret.get_secret_value() == "lower"
    monkeypatch.setenv("KETENHUB_S3_SECRET_KEY", "x")
    with pytest.raises(SecretFileError, match="not both"):
        Settings()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "absent", "cannot read .*absent: No such file or directory"),
        (lambda tmp: tmp, "cannot read .*: Is a directory"),
        (lambda tmp: _secret_file(tmp, b""), "is empty"),
        (lambda tmp: _secret_file(tmp, b"\n"), "is empty"),
        (lambda tmp: _secret_file(tmp, b"\xff\xfe"), "is not UTF-8 text"),
        (lambda tmp: _secret_file(tmp, b"x" * (MAX_SECRET_FILE + 1)), "is larger than"),
    ],
    ids=["missing", "directory", "empty", "only-a-newline", "binary", "too-large"],
)
def test_an_unusable_file_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: object, reason: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    monkeypatch.setenv("KETENHUB_DATABASE_URL_FILE", str(path))
    with pytest.raises(SecretFileError, match=f"^KETENHUB_DATABASE_URL_FILE: .*{reason}"):
        Settings()


def test_an_empty_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETENHUB_DATABASE_URL_FILE", "")
    with pytest.raises(SecretFileError, match="KETENHUB_DATABASE_URL_FILE is empty"):
        Settings()


def test_a_value_read_from_a_file_is_validated_like_any_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _secret_file(tmp_path, b"mysql://hub:pw-from-a-file@db.example.nl/ketenhub\n")
    monkeypatch.setenv("KETENHUB_DATABASE_URL_FILE", str(path))
    with pytest.raises(ValueError, match="must be a sqlite:/// or postgresql://") as refused:
        Settings()
    assert "pw-from-a-file" not in str(refused.value)


def test_values_passed_directly_still_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETENHUB_S3_SECRET_KEY_FILE", str(_secret_file(tmp_path, b"file")))
    settings = Settings(environment=Environment.DEVELOPMENT, s3_secret_key=SecretStr("direct"))
    assert settings.s3_secret_key is not None
    assert settings.s3_secret_key.get_secret_value() == "direct"


def test_a_secret_from_a_file_stays_out_of_the_repr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _secret_file(tmp_path, _VALUES["database_url"].encode())
    monkeypatch.setenv("KETENHUB_DATABASE_URL_FILE", str(path))
    assert "pw-from-a-file" not in repr(Settings())
