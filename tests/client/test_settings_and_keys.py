"""The client's settings and key, without a hub: profiles written and read back, the
environment overriding them, the key file's mode, and the client assertion's claims and
algorithm, verified with the public key as the hub would."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from ketenhub_client.config import (
    ENV_CLIENT_ID,
    ENV_HUB,
    ENV_KEY_FILE,
    Settings,
    check_hub_url,
    check_key_file,
    load_settings,
    read_profiles,
    write_profile,
)
from ketenhub_client.credentials import ASSERTION_LIFETIME, ClientKey, Token, TokenCache
from ketenhub_client.errors import ConfigError
from ketenhub_client.pending import Pending


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), **extra}


def _key_file(tmp_path: Path, jwk: dict[str, object], mode: int = 0o600) -> Path:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(jwk))
    path.chmod(mode)
    return path


def test_a_profile_is_written_owner_only_and_read_back(tmp_path: Path) -> None:
    env = _env(tmp_path)
    # Characters a hand-written TOML writer must escape.
    odd = Settings(
        hub="https://hub.example.nl",
        client_id='iom "case" \\ system',
        key_file=Path("/keys/ä b/key.json"),
    )

    path = write_profile("default", odd, env=env)
    write_profile("test", Settings("https://test.example.nl", "t", Path("/k")), env=env)

    assert path.stat().st_mode & 0o777 == 0o600
    assert read_profiles(env)["default"] == {
        "hub": "https://hub.example.nl",
        "client_id": 'iom "case" \\ system',
        "key_file": "/keys/ä b/key.json",
    }
    assert load_settings("test", env).hub == "https://test.example.nl"
    assert load_settings(None, env) == odd


def test_the_environment_overrides_a_profile_field_by_field(tmp_path: Path) -> None:
    env = _env(tmp_path)
    write_profile("default", Settings("https://hub.example.nl", "iom", Path("/k")), env=env)

    loaded = load_settings(None, {**env, ENV_CLIENT_ID: "iom-2", ENV_KEY_FILE: "/other"})

    assert loaded == Settings("https://hub.example.nl", "iom-2", Path("/other"))


def test_the_environment_alone_is_enough(tmp_path: Path) -> None:
    env = _env(
        tmp_path, **{ENV_HUB: "https://h.example.nl/", ENV_CLIENT_ID: "c", ENV_KEY_FILE: "k"}
    )

    assert load_settings(None, env) == Settings("https://h.example.nl", "c", Path("k"))


def test_a_named_profile_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configure --profile staging"):
        load_settings("staging", _env(tmp_path))


@pytest.mark.parametrize(
    "url",
    [
        "http://hub.example.nl",
        "ftp://hub.example.nl",
        "https://user:pw@hub.example.nl",
        "https://hub.example.nl/?x=1",
        "hub.example.nl",
    ],
)
def test_hub_urls_that_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        check_hub_url(url)


def test_http_is_accepted_for_this_machine_only() -> None:
    assert check_hub_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert check_hub_url("http://localhost:8000") == "http://localhost:8000"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o700 | 0o004])
def test_a_key_file_others_may_read_is_refused_with_the_chmod(tmp_path: Path, mode: int) -> None:
    path = _key_file(tmp_path, {"kty": "EC"}, mode)

    with pytest.raises(ConfigError, match=f"chmod 600 {path}"):
        check_key_file(path)


def test_a_key_file_only_its_owner_may_read_is_accepted(tmp_path: Path) -> None:
    path = _key_file(tmp_path, {"kty": "EC"}, 0o400)

    assert check_key_file(path) == path


def test_an_ec_key_signs_es256_assertions_for_the_issuer(tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", {"kid": "iom-1"}, private=True)
    client = ClientKey.from_file(_key_file(tmp_path, dict(key.as_dict(private=True))))

    first = client.assertion(client_id="demo-iom", audience="https://hub.example.nl", now=1000)
    second = client.assertion(client_id="demo-iom", audience="https://hub.example.nl", now=1000)
    token = jwt.decode(first, ECKey.import_key(key.as_dict(private=False)))

    assert token.header["alg"] == "ES256"
    assert token.header["kid"] == "iom-1"
    claims = token.claims
    assert claims["iss"] == claims["sub"] == "demo-iom"
    assert claims["aud"] == "https://hub.example.nl"
    assert claims["exp"] - claims["iat"] == ASSERTION_LIFETIME
    assert claims["jti"] != jwt.decode(second, key).claims["jti"]


def test_an_rsa_key_signs_ps256_unless_its_jwk_says_rs256() -> None:
    key = RSAKey.generate_key(2048, private=True)
    plain = ClientKey.from_jwk(dict(key.as_dict(private=True)))
    rs256 = ClientKey.from_jwk({**key.as_dict(private=True), "alg": "RS256"})
    public = RSAKey.import_key(key.as_dict(private=False))

    signed = plain.assertion(client_id="c", audience="https://h", now=0)
    header = jwt.decode(signed, public, algorithms=["PS256"]).header
    assert header["alg"] == "PS256"
    assert rs256.algorithm == "RS256"


def _small_rsa() -> dict[str, object]:
    with warnings.catch_warnings():  # joserfc warns of the very key this test wants refused
        warnings.simplefilter("ignore")
        return dict(RSAKey.generate_key(1024, private=True).as_dict(private=True))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: ECKey.generate_key("P-256", private=True).as_dict(private=False), "public key"),
        (lambda: ECKey.generate_key("P-384", private=True).as_dict(private=True), "P-256"),
        (lambda: OKPKey.generate_key("Ed25519", private=True).as_dict(private=True), "or an RSA"),
        (
            lambda: {
                **ECKey.generate_key("P-256", private=True).as_dict(private=True),
                "alg": "HS256",
            },
            "alg",
        ),
        (_small_rsa, "2048"),
    ],
    ids=["public", "p-384", "ed25519", "hs256", "rsa-1024"],
)
@pytest.mark.filterwarnings("ignore:Key size should be")  # the small key is the point
def test_keys_the_hub_would_not_accept_are_refused(
    make: Callable[[], dict[str, object]], reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason):
        ClientKey.from_jwk(make())


def test_a_file_that_is_not_a_jwk_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\n")
    path.chmod(0o600)

    with pytest.raises(ConfigError, match="not a JSON Web Key"):
        ClientKey.from_file(path)


def test_a_token_is_reused_until_shortly_before_it_expires_and_dropped_on_request() -> None:
    now = [1000.0]
    fetched: list[int] = []

    def fetch() -> Token:
        fetched.append(1)
        return Token(f"token-{len(fetched)}", now[0] + 300, "documents:read")

    cache = TokenCache(fetch, clock=lambda: now[0])

    assert cache.get() == "token-1"
    now[0] += 200
    assert cache.get() == "token-1"
    now[0] += 80  # 20 s left: within the margin, so a fresh one
    assert cache.get() == "token-2"
    cache.drop("token-1")  # a stale value changes nothing
    assert cache.get() == "token-2"
    cache.drop("token-2")
    assert cache.get() == "token-3"


def test_an_unfinished_upload_is_found_only_for_the_same_file_and_metadata(
    tmp_path: Path,
) -> None:
    pending = Pending(tmp_path / "uploads")
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.7 one")
    same = {
        "hub": "https://hub.example.nl",
        "client_id": "demo-iom",
        "path": scan,
        "document_type": "case_info",
        "v_number": "1234567890",
        "title": None,
    }
    first = pending.fingerprint(**same)
    pending.remember(first, "/api/v1/uploads/0b0e3f6a-5b2f-4b8e-9a53-0f0b1f1e2d3c")

    assert pending.fingerprint(**same) == first
    assert pending.location(first) == "/api/v1/uploads/0b0e3f6a-5b2f-4b8e-9a53-0f0b1f1e2d3c"
    other_person = pending.fingerprint(**{**same, "v_number": "1234567891"})
    assert pending.location(other_person) is None
    scan.write_bytes(b"%PDF-1.7 two")  # the same size, another content and time
    os.utime(scan, ns=(1, 1))
    assert pending.fingerprint(**same) != first
    # Nothing on disk says who the upload is about.
    for entry in (tmp_path / "uploads").iterdir():
        assert "1234567890" not in entry.name
        assert b"1234567890" not in entry.read_bytes()
        assert entry.stat().st_mode & 0o077 == 0
    assert (tmp_path / "uploads").stat().st_mode & 0o077 == 0
    pending.forget(first)
    assert pending.location(first) is None
