"""OWASP API2:2023 (Broken Authentication) at the OAuth endpoints: malformed client
authentication, NUL bytes, a client that goes away mid-body, assertion audiences, repeated
parameters, client-existence oracles and cross-client revocation, against a real hub process.

Every test runs on SQLite and PostgreSQL: several findings (NUL bytes, SQL parameters in the
log) exist on PostgreSQL only, and the client lookups they reach are the database's.
"""

from __future__ import annotations

import base64
import re
import secrets
import socket
import statistics
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, JWKRegistry

from tests.security.conftest import SecurityHub

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OAUTH_PATHS = ("/oauth/token", "/oauth/introspect", "/oauth/revoke")
# What SQLAlchemy writes into an exception's text when it shows a statement and its values.
SQL_IN_LOG = re.compile(r"\[SQL: |\[parameters: |psycopg\.|sqlite3\.")


def _basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


def _assertion(hub: SecurityHub, client_id: str, **claims: Any) -> str:
    """A client assertion signed with the demo client's own private key."""
    jwk = hub.client(client_id)["private_jwk"]
    key = JWKRegistry.import_key(jwk)
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": hub.url("/oauth/token"),
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
        **claims,
    }
    header = {"alg": jwk.get("alg", "ES256"), "typ": "JWT"}
    if jwk.get("kid"):
        header["kid"] = jwk["kid"]
    return jwt.encode(header, body, key, algorithms=[header["alg"]])


def _form(**fields: str) -> dict[str, str]:
    return fields


def _post(hub: SecurityHub, path: str, content: bytes | str, **headers: str) -> httpx.Response:
    return httpx.post(
        hub.url(path),
        content=content,
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        timeout=30,
    )


def _assert_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    if status == 401:
        assert response.headers.get("www-authenticate", "").lower().startswith("basic"), (
            response.headers
        )
    return body


def _assert_clean_log(hub: SecurityHub, mark: int) -> None:
    hub.assert_no_traceback_since(mark)
    written = hub.log_since(mark)
    assert not SQL_IN_LOG.search(written), written[-4000:]


def test_non_utf8_basic_credentials_are_invalid_client(hub: SecurityHub) -> None:
    """Finding (MEDIUM): Basic credentials that are not UTF-8 gave a 500 with tracebacks at every
    OAuth endpoint. Now: invalid_client, 401 with WWW-Authenticate, nothing in the log.
    OWASP API2:2023 Broken Authentication. ASVS 5.0 V10.4.10 (clients authenticated at the
    back channel), V16.5.1 (a generic answer, no stack trace or query), V16.5.3 (fails
    gracefully and securely)."""
    mark = hub.log_mark()
    for path in OAUTH_PATHS:
        for raw in (b"\xff\xfe:secret", b"demo-iom:\xc3\x28", b"\x80"):
            response = _post(hub, path, "grant_type=client_credentials&token=x", **_basic(raw))
            _assert_oauth_error(response, 401, "invalid_client")
    _assert_clean_log(hub, mark)


def test_nul_bytes_anywhere_are_refused_without_a_500(hub: SecurityHub) -> None:
    """Finding (MEDIUM): NUL bytes in client_id, other form fields, Basic credentials and
    assertion claims gave 500s on PostgreSQL, with SQL parameters in the log. Now: a malformed
    form is invalid_request (400), bad client authentication invalid_client, no traceback and no
    SQL in the log. OWASP API2:2023 Broken Authentication, API8:2023 Security Misconfiguration.
    ASVS 5.0 V2.2.1 (input validated against its expected structure), V16.5.1, V16.5.3, V16.2.5
    (no sensitive data, here SQL parameters, in the log)."""
    mark = hub.log_mark()
    for path in OAUTH_PATHS:
        for body in (
            "grant_type=client_credentials&client_id=demo-iom%00",
            "grant_type=client_credentials%00&token=x",
            "grant_type=client_credentials&scope=documents:read%00&token=x%00",
            "token=%00&token_type_hint=access_token%00",
        ):
            response = _post(hub, path, body)
            _assert_oauth_error(response, 400, "invalid_request")
        response = _post(
            hub, path, "grant_type=client_credentials&token=x", **_basic(b"demo-iom\x00:secret")
        )
        _assert_oauth_error(response, 401, "invalid_client")
        response = _post(
            hub,
            path,
            "grant_type=client_credentials&token=x",
            **_basic(b"demo-iom:" + hub.client("demo-iom")["client_secret"].encode() + b"\x00"),
        )
        _assert_oauth_error(response, 401, "invalid_client")
        for claims in ({"sub": "demo-iom\x00", "iss": "demo-iom\x00"}, {"jti": "j\x00ti"}):
            assertion = _assertion(hub, "demo-iom", **claims)
            response = httpx.post(
                hub.url(path),
                data={
                    "grant_type": "client_credentials",
                    "token": "x",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": assertion,
                },
                timeout=30,
            )
            assert response.status_code in (400, 401), response.text
            assert response.json()["error"] == "invalid_client"
    _assert_clean_log(hub, mark)


def test_a_client_that_disconnects_mid_body_leaves_no_traceback(hub: SecurityHub) -> None:
    """Finding (MEDIUM): a client that announced a body and went away before sending it all gave
    a 500 with tracebacks. It is not an error of the hub: at most one line in the log, no
    traceback, and the hub serves on. OWASP API4:2023 Unrestricted Resource Consumption.
    ASVS 5.0 V16.5.3 (fails gracefully and securely), V16.5.1 (no stack trace)."""
    address = urlsplit(hub.base_url)
    for path in OAUTH_PATHS:
        mark = hub.log_mark()
        with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                "Content-Length: 1000\r\n\r\ngrant_type=client".encode("ascii")
            )
            time.sleep(0.05)  # let the server start reading the body before it ends
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            written = hub.log_since(mark)
            if "disconnect" in written.lower() or "Traceback" in written:
                break
            time.sleep(0.05)
        time.sleep(0.1)  # a second line, if any, is written right after the first
        hub.assert_no_traceback_since(mark)
        lines = [line for line in hub.log_since(mark).splitlines() if "disconnect" in line.lower()]
        assert len(lines) == 1, hub.log_since(mark)
        assert hub.alive()


def test_an_assertion_audience_array_with_a_foreign_member_is_refused(hub: SecurityHub) -> None:
    """Finding (LOW): a client assertion whose `aud` array also names another audience was
    accepted; DESIGN.md allows an array only if every member is the hub's. OWASP API2:2023
    Broken Authentication. ASVS 5.0 V9.2.3 (a token accepted only for its audience, checked
    against an allow-list), V10.4.16 (strong client authentication: private_key_jwt)."""
    token_url = hub.url("/oauth/token")
    for audience in (
        [token_url, "https://partner.example/oauth/token"],
        ["https://partner.example/", hub.base_url],
        [],
        [token_url, 7],
    ):
        assertion = _assertion(hub, "demo-iom", aud=audience)
        response = httpx.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
            timeout=30,
        )
        _assert_oauth_error(response, 400, "invalid_client")
    # Still accepted: an array whose every member is the hub's.
    assertion = _assertion(hub, "demo-iom", aud=[token_url, hub.base_url])
    response = httpx.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_repeated_parameters_are_invalid_request(hub: SecurityHub) -> None:
    """Finding (LOW): repeated OAuth parameters were accepted (the first one won). RFC 6749
    §3.1/§3.2: parameters MUST NOT be included more than once. OWASP API2:2023 Broken
    Authentication, API8:2023 Security Misconfiguration. ASVS 5.0 V2.2.1 (input validated
    against its expected structure)."""
    secret = hub.client("demo-iom")["client_secret"]
    auth = _basic(f"demo-iom:{secret}".encode())
    token = hub.token("demo-iom")
    cases = {
        "/oauth/token": (
            "grant_type=client_credentials&grant_type=client_credentials",
            "grant_type=client_credentials&scope=documents:read&scope=documents:write",
        ),
        "/oauth/introspect": (f"token={token}&token=x",),
        "/oauth/revoke": (f"token=x&token={token}",),
    }
    for path, bodies in cases.items():
        for body in bodies:
            _assert_oauth_error(_post(hub, path, body, **auth), 400, "invalid_request")
    response = httpx.post(
        hub.url("/oauth/introspect"), data={"token": token}, headers=auth, timeout=30
    )
    assert response.json()["active"] is True  # the refused revocation revoked nothing


def _timed(send: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = send()
    return response, time.perf_counter() - started


def test_unknown_and_known_clients_are_refused_alike(hub: SecurityHub) -> None:
    """Finding (LOW): error messages told which client ids exist ("The client does not exist on
    this server" versus a failed signature or secret). Now an unknown client and wrong
    credentials answer the same status, error, description and headers, in similar time, for
    Basic credentials and client assertions. OWASP API2:2023 Broken Authentication.
    ASVS 5.0 V6.3.8 (valid identities cannot be deduced from error messages, status codes or
    response times)."""
    token_url = hub.url("/oauth/token")
    stranger = ECKey.generate_key("P-256", private=True)

    def basic(client_id: str) -> httpx.Response:
        return _post(
            hub,
            "/oauth/token",
            "grant_type=client_credentials",
            **_basic(f"{client_id}:x".encode()),
        )

    def assertion(client_id: str) -> httpx.Response:
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": token_url,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        signed = jwt.encode({"alg": "ES256"}, claims, stranger, algorithms=["ES256"])
        return httpx.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": signed,
            },
            timeout=30,
        )

    for send in (basic, assertion):
        known, unknown = send("demo-iom"), send(f"nobody-{secrets.token_hex(4)}")
        assert known.status_code == unknown.status_code, (known.text, unknown.text)
        assert known.json() == unknown.json()
        assert known.json()["error"] == "invalid_client"
        assert known.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")
        # Similar time: interleaved, so load on the machine hits both alike.
        known_times, unknown_times = [], []
        for _ in range(8):
            known_times.append(_timed(lambda: send("demo-iom"))[1])  # noqa: B023
            unknown_times.append(_timed(lambda: send("nobody-at-all"))[1])  # noqa: B023
        known_median = statistics.median(known_times)
        unknown_median = statistics.median(unknown_times)
        assert abs(known_median - unknown_median) < max(0.002, 0.5 * known_median), (
            known_median,
            unknown_median,
        )


def test_revoking_another_clients_token_answers_like_garbage(hub: SecurityHub) -> None:
    """Finding (LOW): revoking another client's token answered 400 invalid_grant, unlike
    revoking garbage (200), an oracle for which strings are live tokens of someone else. Now
    both answer 200 with the same body, and the other client's token stays valid
    (docs/decisions/0019). OWASP API1:2023 Broken Object Level Authorization, API2:2023 Broken
    Authentication. ASVS 5.0 V8.2.2 (data-specific access: no acting on another's token),
    V10.4.10 (revocation requests authenticated)."""
    owner_token = hub.token("demo-iom", fresh=True)
    secret = hub.client("demo-ind")["client_secret"]
    auth = _basic(f"demo-ind:{secret}".encode())
    garbage = _post(hub, "/oauth/revoke", "token=garbage", **auth)
    other = _post(hub, "/oauth/revoke", f"token={owner_token}", **auth)
    assert garbage.status_code == other.status_code == 200, (garbage.text, other.text)
    assert garbage.json() == other.json()
    assert garbage.content == other.content
    api = httpx.get(
        hub.url("/api/v1/organisations"),
        headers={"Authorization": f"Bearer {owner_token}"},
        timeout=30,
    )
    assert api.status_code == 200, api.text
