"""The OAuth endpoints' form reader (hub/oauth/endpoints.py), in process: what it refuses as
``invalid_request`` before authlib sees the request, and that random bytes give nothing else.
The same attacks against a served hub are tests/security/test_api2_oauth_inputs.py and
test_parser_fuzz.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.types import Message

from hub.core.errors import OAuthRequestError
from hub.oauth.endpoints import FORM_TYPE, oauth_form

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _request(
    chunks: Sequence[bytes],
    *,
    content_type: str = FORM_TYPE,
    gone: bool = False,
    authorization: str | None = None,
) -> Request:
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    if gone:
        messages.append({"type": "http.disconnect"})
    else:
        messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> Message:
        return messages.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/oauth/token",
        "headers": [(b"content-type", content_type.encode("latin-1"))]
        + ([(b"authorization", authorization.encode("latin-1"))] if authorization else []),
        "query_string": b"",
    }
    return Request(scope, receive)


def _read(body: bytes, **kwargs: object) -> list[tuple[str, str]]:
    return asyncio.run(oauth_form(_request([body], **kwargs)))  # type: ignore[arg-type]


def test_a_well_formed_form_is_read() -> None:
    assert _read(b"grant_type=client_credentials&scope=a+b") == [
        ("grant_type", "client_credentials"),
        ("scope", "a b"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=a&grant_type=a",
        b"token=x&token_type_hint=access_token&token=y",
        b"scope=a&SCOPE=b&scope=c",
    ],
)
def test_a_repeated_parameter_is_invalid_request(body: bytes) -> None:
    with pytest.raises(OAuthRequestError, match="more than once") as caught:
        _read(body)
    assert caught.value.status_code == 400


def test_only_oauth_parameter_names_are_echoed() -> None:
    with pytest.raises(OAuthRequestError) as caught:
        _read(b"v1234567890=a&v1234567890=b")
    assert "1234567890" not in caught.value.description
    with pytest.raises(OAuthRequestError, match="'token'"):
        _read(b"token=a&token=b")


@pytest.mark.parametrize(
    "body", [b"client_id=demo%00", b"grant%00type=x", b"token=a%0Ab", b"scope=%7F", b"a%09=b"]
)
def test_a_control_character_is_invalid_request(body: bytes) -> None:
    with pytest.raises(OAuthRequestError, match="control character"):
        _read(body)


def test_basic_and_an_assertion_together_is_invalid_request() -> None:
    body = b"grant_type=client_credentials&client_assertion=a.b.c"
    with pytest.raises(OAuthRequestError, match="more than one authentication method"):
        _read(body, authorization="Basic ZGVtbzp4")
    assert _read(body) == [("grant_type", "client_credentials"), ("client_assertion", "a.b.c")]


def test_a_client_gone_mid_body_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(OAuthRequestError, match="incomplete"):
        asyncio.run(oauth_form(_request([b"grant_type=cli"], gone=True)))
    lines = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].exc_info is None


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=200), max_size=4),
    content_type=st.sampled_from([FORM_TYPE, f"{FORM_TYPE}; charset=utf-8", "text/plain", ""]),
)
def test_random_bytes_are_a_form_or_invalid_request(chunks: list[bytes], content_type: str) -> None:
    try:
        form = asyncio.run(oauth_form(_request(chunks, content_type=content_type)))
    except OAuthRequestError as exc:
        status = exc.status_code
    else:
        status = 200
        names = [name for name, _ in form]
        assert len(names) == len(set(names))
        assert not any(_CONTROL.search(name + value) for name, value in form)
    assert status in (200, 400, 413)
