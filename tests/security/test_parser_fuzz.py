"""Random bytes at the hub's hand-written parsers never give a 500 or a traceback: the OAuth
form and client authentication (``/oauth/token``, ``/oauth/introspect``, ``/oauth/revoke``:
bodies, content types, ``Authorization`` headers, client assertions) and the multipart reader of
``POST /api/v1/documents`` (hub/documents/form.py), against a real hub process.

Hypothesis generates both plain random bytes and inputs shaped like the real thing (a form
with OAuth's parameter names, a multipart body with the upload's fields), because random bytes
alone rarely get past the first check. Examples are bounded so the module runs in well under
30 s on both databases; each failure prints the example and the seed to replay it. Both database
kinds: a value that reaches a query (a NUL byte in a client id) fails on PostgreSQL only.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import SecurityHub

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM_TYPE = "application/x-www-form-urlencoded"
OAUTH_PATHS = ("/oauth/token", "/oauth/introspect", "/oauth/revoke")
OAUTH_NAMES = (
    "grant_type",
    "scope",
    "client_id",
    "client_secret",
    "client_assertion_type",
    "client_assertion",
    "token",
    "token_type_hint",
)
BOUNDARY = "fuzz-boundary-Q2x1c3Rlcg"
UPLOAD_NAMES = ("document_type", "v_number", "title", "file")

FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Bytes a header value may carry on the wire (RFC 9110 field-vchar, SP, HTAB, obs-text): what
# an attacker can put there; h11 itself refuses CR, LF and NUL before the hub sees them.
_HEADER_BYTES = st.binary(max_size=120).map(
    lambda raw: bytes(b for b in raw if b == 9 or 32 <= b <= 126 or b >= 128).strip()
)
_ANY_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("\x00\x7f%&=+:"),
    max_size=40,
)


def _mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> Any:
    """``usual`` four times in five: random bytes rarely get past the first check otherwise."""
    return st.integers(0, 4).flatmap(lambda n: other if n == 0 else usual)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@st.composite
def _assertions(draw: st.DrawFn) -> str:
    """Something shaped like a JWT: random header and claims, a random signature."""
    scalar = st.none() | st.booleans() | st.integers() | _ANY_TEXT
    value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
    claims = draw(
        st.dictionaries(
            st.sampled_from(("iss", "sub", "aud", "exp", "jti", "iat", "nbf")) | _ANY_TEXT,
            value | st.sampled_from(("demo-iom", "demo-ind")),
            max_size=6,
        )
    )
    header = draw(
        st.dictionaries(
            st.sampled_from(("alg", "kid", "typ", "crit", "jwk")),
            st.sampled_from(("ES256", "RS256", "PS256", "none", "HS256")) | value,
            max_size=3,
        )
    )
    parts = [
        _b64url(json.dumps(header).encode()),
        _b64url(json.dumps(claims).encode()),
        _b64url(draw(st.binary(max_size=64))),
    ]
    if draw(st.booleans()):
        parts[draw(st.integers(0, 2))] = draw(_ANY_TEXT)
    return ".".join(parts)


def _percent(raw: bytes) -> str:
    return quote_from_bytes(raw, safe="")


@st.composite
def _oauth_bodies(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=400))
    names = st.sampled_from(OAUTH_NAMES) | _ANY_TEXT
    values = (
        st.sampled_from(("client_credentials", ASSERTION_TYPE, "access_token", "documents:read"))
        | _ANY_TEXT.map(lambda text: text.encode("utf-8"))
        | st.binary(max_size=60)
    )
    pairs = draw(st.lists(st.tuples(names, values), max_size=6))
    fields = []
    for name, value in pairs:
        raw = value if isinstance(value, bytes) else value.encode("utf-8")
        fields.append(f"{_percent(name.encode('utf-8'))}={_percent(raw)}")
    if draw(st.booleans()):
        fields.append(f"client_assertion_type={_percent(ASSERTION_TYPE.encode())}")
        fields.append(f"client_assertion={_percent(draw(_assertions()).encode('utf-8'))}")
    return "&".join(fields).encode("ascii")


@st.composite
def _authorizations(draw: st.DrawFn) -> bytes | None:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return None
    if kind == 1:
        return draw(_HEADER_BYTES)
    if kind == 2:
        return b"Basic " + base64.b64encode(draw(st.binary(max_size=80)))
    if kind == 3:
        user = draw(st.sampled_from((b"demo-iom", b"demo-ind")) | st.binary(max_size=20))
        return b"Basic " + base64.b64encode(user + b":" + draw(st.binary(max_size=40)))
    return draw(st.sampled_from((b"Basic ", b"basic  ", b"Bearer ", b"Basic\t"))) + draw(
        _HEADER_BYTES
    )


def _assert_answered(hub: SecurityHub, mark: int, response: httpx.Response, *, oauth: bool) -> None:
    hub.assert_no_traceback_since(mark)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body: Any = response.json()
        if oauth:
            assert isinstance(body.get("error"), str), body
        else:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert body["status"] == response.status_code, body


def test_random_bytes_at_the_oauth_parsers(hub: SecurityHub) -> None:
    """Random bodies, content types and Authorization headers at the three OAuth endpoints never
    give a 500 or a traceback; every refusal is OAuth's error JSON. OWASP API2:2023 Broken
    Authentication, API8:2023 Security Misconfiguration. ASVS 5.0 V2.2.1 (input validated
    against its expected structure), V16.5.1 (no stack trace or query), V16.5.3 (fails
    gracefully and securely on any input)."""

    @FUZZ
    @given(
        path=st.sampled_from(OAUTH_PATHS),
        body=_oauth_bodies(),
        content_type=_mostly(
            st.sampled_from((FORM_TYPE.encode(), FORM_TYPE.encode() + b"; charset=utf-8")),
            _HEADER_BYTES,
        ),
        authorization=_authorizations(),
    )
    def attack(path: str, body: bytes, content_type: bytes, authorization: bytes | None) -> None:
        headers: dict[str, bytes] = {"Content-Type": content_type.strip()}
        if authorization is not None and authorization.strip():
            headers["Authorization"] = authorization.strip()
        mark = hub.log_mark()
        response = httpx.post(hub.url(path), content=body, headers=headers, timeout=30)
        _assert_answered(hub, mark, response, oauth=True)

    attack()
    assert hub.alive()


def _header_line(draw: st.DrawFn) -> bytes:
    name = draw(
        st.sampled_from((b"Content-Disposition", b"Content-Type", b"Content-Transfer-Encoding"))
        | _HEADER_BYTES
    )
    field = draw(st.sampled_from(UPLOAD_NAMES) | _ANY_TEXT).encode("utf-8")
    value = draw(
        st.sampled_from(
            (
                b'form-data; name="' + field + b'"',
                b'form-data; name="file"; filename="' + field + b'"',
                b"form-data; name*=UTF-8''" + quote_from_bytes(field).encode("ascii"),
                b"application/pdf",
                b"base64",
            )
        )
        | _HEADER_BYTES
    )
    return name + b": " + value


@st.composite
def _multipart_bodies(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=600))
    chunks = [draw(st.binary(max_size=8))]  # a preamble, usually empty
    for _ in range(draw(st.integers(0, 5))):
        lines = [_header_line(draw) for _ in range(draw(st.integers(0, 3)))]
        content = draw(
            st.sampled_from((b"travel_document", b"1234567890", b"%PDF-1.7\n"))
            | st.binary(max_size=80)
        )
        chunks.append(
            b"--"
            + BOUNDARY.encode()
            + b"\r\n"
            + b"\r\n".join(lines)
            + b"\r\n\r\n"
            + content
            + b"\r\n"
        )
    if draw(st.booleans()):
        chunks.append(b"--" + BOUNDARY.encode() + b"--\r\n")
    chunks.append(draw(st.binary(max_size=8)))  # an epilogue, or a torn closing
    return b"".join(chunks)


def test_random_bytes_at_the_multipart_parser(hub: SecurityHub) -> None:
    """Random multipart bodies and content types at ``POST /api/v1/documents`` (with a valid
    token, so the body is parsed) never give a 500 or a traceback; every refusal is
    problem+json. OWASP API4:2023 Unrestricted Resource Consumption, API8:2023 Security
    Misconfiguration. ASVS 5.0 V2.2.1 (input validated against its expected structure),
    V16.5.1, V16.5.3 (fails gracefully and securely on any input)."""
    token = hub.auth("demo-iom")["Authorization"]
    boundary = f"multipart/form-data; boundary={BOUNDARY}".encode()

    @settings(FUZZ, max_examples=35)  # an upload costs more than an OAuth request
    @given(
        body=_multipart_bodies(),
        content_type=_mostly(
            st.sampled_from((boundary, b"multipart/form-data; boundary=" + b"x" * 71)),
            _HEADER_BYTES,
        ),
    )
    def attack(body: bytes, content_type: bytes) -> None:
        mark = hub.log_mark()
        response = httpx.post(
            hub.url("/api/v1/documents"),
            content=body,
            headers={"Content-Type": content_type.strip(), "Authorization": token},
            timeout=30,
        )
        _assert_answered(hub, mark, response, oauth=False)

    attack()
    assert hub.alive()
