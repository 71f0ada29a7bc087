"""The parsing under client authentication: HTTP Basic credentials, client ids, assertion
audiences. In process; the attacks against a served hub are in
tests/security/test_api2_oauth_inputs.py.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from authlib.oauth2.rfc6749 import InvalidClientError

from auth.client_auth import ClientAssertion, ClientKeySets, basic_credentials, is_client_id
from auth.server_config import ServerConfig

ISSUER = "https://hub.example"


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (_basic(b"demo-iom:s3cret"), ("demo-iom", "s3cret")),
        (_basic(b"demo-iom:a:b"), ("demo-iom", "a:b")),
        (_basic(b"demo%2Diom:s%3Acret"), ("demo-iom", "s:cret")),  # RFC 6749 §2.3.1
        ("basic  " + base64.b64encode(b"a:b").decode(), ("a", "b")),
    ],
)
def test_well_formed_basic_credentials(header: str, expected: tuple[str, str]) -> None:
    assert basic_credentials(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer abc",
        "Basic",
        "Basic !!!",
        "Basic é",  # not ASCII: base64 of a str would raise ValueError
        _basic(b"\xff\xfe:secret"),  # not UTF-8
        _basic(b"demo-iom:\xc3\x28"),
        _basic(b"demo-iom"),  # no colon
        _basic(b":secret"),
        _basic(b"demo-iom:"),
        _basic(b"demo-iom\x00:secret"),  # control characters are no VSCHAR
        _basic(b"demo-iom:sec\x00ret"),
        _basic(b"demo-iom%00:secret"),
        _basic(b"demo-iom%ff:secret"),  # percent-encoded bytes that are not UTF-8
        _basic("dömo:secret".encode()),  # UTF-8, but not VSCHAR
    ],
)
def test_malformed_basic_credentials_are_none(header: str | None) -> None:
    assert basic_credentials(header) is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("demo-iom", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("", False),
        ("demo\x00", False),
        ("démo", False),
        (None, False),
        (7, False),
    ],
)
def test_is_client_id(value: object, ok: bool) -> None:
    assert is_client_id(value) is ok


class _Request:
    uri = f"{ISSUER}/oauth/introspect"


def _assertion_verifier() -> ClientAssertion:
    config = ServerConfig(
        issuer=ISSUER,
        audience=f"{ISSUER}/api/v1",
        token_lifetime=300,
        allow_client_secret=False,
        purpose_uri=lambda code: code,
    )
    verifier = ClientAssertion(
        session=None,  # type: ignore[arg-type]
        config=config,
        now=time.time,
        client_keys=ClientKeySets(allow_http=False),
    )
    verifier._endpoint = _Request.uri  # as __call__ sets it for the endpoint being called
    return verifier


def _claims(aud: Any) -> dict[str, Any]:
    return {"iss": "c", "sub": "c", "aud": aud, "exp": int(time.time()) + 60}


@pytest.mark.parametrize(
    "aud",
    [
        ["https://partner.example/oauth/token", f"{ISSUER}/oauth/token"],
        [ISSUER, "https://partner.example"],
        [],
        [ISSUER, 7],
        "https://partner.example",
        None,
        f"{ISSUER}/oauth/revoke",  # another endpoint than the one called
    ],
)
def test_an_audience_that_is_not_all_ours_is_refused(aud: Any) -> None:
    with pytest.raises(InvalidClientError, match="audience"):
        _assertion_verifier().verify_claims(_claims(aud))


@pytest.mark.parametrize(
    "aud",
    [
        ISSUER,
        f"{ISSUER}/oauth/token",
        f"{ISSUER}/oauth/introspect",
        [ISSUER, f"{ISSUER}/oauth/token"],
    ],
)
def test_audiences_of_this_hub_pass_the_audience_check(aud: Any) -> None:
    verifier = _assertion_verifier()
    verifier._validate_jti = False  # no database here: only the claims are checked
    verifier.verify_claims(_claims(aud))
