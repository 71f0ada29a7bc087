"""API2 Broken Authentication: token forgery and replay against the served hub.

Every forged access token below is signed with the hub's real signing key (read from the served
hub's own database and key ring, as an insider with a copy of both could), unless the case is
about the key: so each token is refused for exactly the one defect it names, and the baseline
(:func:`test_a_token_forged_with_the_real_key_is_the_baseline`) shows that a token without a
defect would have been accepted. These attacks already hold; the tests keep them held, on the
wire, on both database kinds (the key set, the deny-list and the replay cache live in the
database).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from unittest import mock

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from hub.config import Settings
from hub.core import db
from hub.runtime import open_key_ring
from hub.tokens.service import make_signing_keys
from tests.fixtures.secrets import register_secret
from tests.security.conftest import SecurityHub

PROTECTED: Final = "/api/v1/documents"
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Forger:
    """What forging needs: the hub's signing key, its issuer and its API audience."""

    key: Any
    alg: str
    issuer: str
    audience: str

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "demo-dtv",
            "aud": self.audience,
            "client_id": "demo-dtv",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(12),
            "scope": "documents:read",
            "organisation": "DTV",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def forge(self, *, header: dict[str, Any] | None = None, **claims: Any) -> str:
        protected = {"alg": self.alg, "typ": "at+jwt", "kid": self.key.kid, **(header or {})}
        protected = {k: v for k, v in protected.items() if v is not None}
        token = jwt.encode(protected, self.claims(**claims), self.key, algorithms=[self.alg])
        register_secret(token, "forged access token")
        return token


_FORGERS: dict[str, Forger] = {}


@pytest.fixture
def forger(hub: SecurityHub) -> Forger:
    """The served hub's signing key, loaded the way a replica loads it (once per hub)."""
    if hub.base_url not in _FORGERS:
        with mock.patch.dict(os.environ, hub.env, clear=True):
            settings = Settings()
        engine = db.make_engine(settings.resolved_database_url)
        try:
            key, alg = make_signing_keys(
                engine, open_key_ring(settings), alg=settings.token_signing_alg
            ).signing_key()
        finally:
            db.dispose(engine)
        _FORGERS[hub.base_url] = Forger(key, alg, settings.issuer, settings.resolved_api_audience)
    return _FORGERS[hub.base_url]


def _get(hub: SecurityHub, token: str, path: str = PROTECTED) -> httpx.Response:
    return httpx.get(hub.url(path), headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _assert_401(response: httpx.Response, *, error: str | None = "invalid_token") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    if error:
        assert f'error="{error}"' in challenge


def test_a_token_forged_with_the_real_key_is_the_baseline(hub: SecurityHub, forger: Forger) -> None:
    """Control for every forgery below: the same token without its defect is accepted, so each
    401 below is caused by the defect it names. OWASP API2:2023; ASVS 5.0 V9.1.1."""
    assert _get(hub, forger.forge()).status_code == 200


def _alg_none(forger: Forger) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": forger.key.kid}).encode())
    return f"{header}.{_b64(json.dumps(forger.claims()).encode())}."


def _hs256_with_the_public_key(forger: Forger) -> str:
    # Algorithm confusion: the published public key used as an HMAC secret (signed by hand,
    # joserfc refuses to build such a key).
    secret = forger.key.as_pem(private=False)
    header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": forger.key.kid}).encode())
    payload = _b64(json.dumps(forger.claims()).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(mac)}"


def _tampered_payload(forger: Forger) -> str:
    header, _payload, signature = forger.forge().split(".")
    widened = forger.claims(scope="documents:read documents:write shares:write audit:read")
    return f"{header}.{_b64(json.dumps(widened).encode())}.{signature}"


def _tampered_signature(forger: Forger) -> str:
    header, payload, signature = forger.forge().split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{header}.{payload}.{_b64(bytes(raw))}"


def _stranger_key_same_kid(forger: Forger) -> str:
    stranger = ECKey.generate_key("P-256", {"kid": forger.key.kid}, private=True)
    header = {"alg": "ES256", "typ": "at+jwt", "kid": forger.key.kid}
    return jwt.encode(header, forger.claims(), stranger, algorithms=["ES256"])


def _untrusted_issuer(forger: Forger) -> str:
    stranger = RSAKey.generate_key(2048, {"kid": "partner-1"}, private=True)
    header = {"alg": "RS256", "typ": "at+jwt", "kid": "partner-1"}
    claims = forger.claims(iss="https://idp.partner.example")
    return jwt.encode(header, claims, stranger, algorithms=["RS256"])


def _expired(forger: Forger) -> str:
    now = int(time.time())
    return forger.forge(iat=now - 7200, nbf=now - 7200, exp=now - 3600)


FORGERIES: Final[dict[str, Callable[[Forger], str]]] = {
    "alg-none": _alg_none,
    "hs256-with-the-public-key": _hs256_with_the_public_key,
    "unknown-kid": lambda f: f.forge(header={"kid": "sig-unknown"}),
    "stranger-key-with-the-hubs-kid": _stranger_key_same_kid,
    "untrusted-issuer": _untrusted_issuer,
    "expired": _expired,
    "not-yet-valid": lambda f: f.forge(nbf=int(time.time()) + 600),
    "wrong-iss": lambda f: f.forge(iss="https://evil.example"),
    "missing-iss": lambda f: f.forge(iss=None),
    "wrong-aud": lambda f: f.forge(aud=f.issuer),
    "missing-aud": lambda f: f.forge(aud=None),
    "missing-exp": lambda f: f.forge(exp=None),
    "wrong-typ": lambda f: f.forge(header={"typ": "JWT"}),
    "id-token-typ": lambda f: f.forge(header={"typ": "id_token+jwt"}),
    "missing-typ": lambda f: f.forge(header={"typ": None}),
    "tampered-payload": _tampered_payload,
    "tampered-signature": _tampered_signature,
    "garbage": lambda f: "not-a-jwt",
    "oversized": lambda f: "a" * 10_000,
}


@pytest.mark.parametrize("kind", FORGERIES)
def test_a_forged_access_token_is_refused(hub: SecurityHub, forger: Forger, kind: str) -> None:
    """Token forgery of every kind answers 401 invalid_token with an RFC 6750 challenge, and
    never a 500 or a traceback. OWASP API2:2023 Broken Authentication; ASVS 5.0 V9.1.1
    (signature verified before the contents are used), V9.1.2 (only allow-listed algorithms, no
    'none'), V9.1.3 (keys only from the issuer's pre-configured sources: unknown kid, stranger
    key, untrusted or wrong issuer), V9.2.1 (exp/nbf), V9.2.2 (token type), V9.2.3 (audience),
    V16.5.1 (no stack trace)."""
    mark = hub.log_mark()
    _assert_401(_get(hub, FORGERIES[kind](forger)))
    hub.assert_no_traceback_since(mark)


def test_a_token_in_the_query_string_is_refused(hub: SecurityHub) -> None:
    """Bearer tokens are never taken from the URL, where logs and Referer leak them (RFC 6750
    §2.3, RFC 9700): alone or beside a valid header, 401 invalid_request. OWASP API2:2023; ASVS
    5.0 V14.2.1 (no session token in the URL or query string)."""
    token = hub.token("demo-dtv")
    _assert_401(
        httpx.get(hub.url(PROTECTED), params={"access_token": token}, timeout=30),
        error="invalid_request",
    )
    _assert_401(
        httpx.get(
            hub.url(PROTECTED),
            params={"access_token": token},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ),
        error="invalid_request",
    )


def test_a_revoked_access_token_is_refused(hub: SecurityHub) -> None:
    """Replay of a revoked token: after RFC 7009 revocation by its own client the token answers
    401 at once (the hub's jti deny-list). OWASP API2:2023; ASVS 5.0 V7.4.1 (a terminated
    self-contained token is refused: a list of terminated tokens)."""
    secret = hub.client("demo-coa")["client_secret"]
    # Its own scope key, so the cached token other tests use stays unrevoked.
    token = hub.token("demo-coa", "documents:read", fresh=True)
    assert _get(hub, token).status_code == 200
    revoked = httpx.post(
        hub.url("/oauth/revoke"), data={"token": token}, auth=("demo-coa", secret), timeout=30
    )
    assert revoked.status_code == 200, revoked.text
    _assert_401(_get(hub, token))


@pytest.fixture
def token_url(hub: SecurityHub) -> str:
    metadata = httpx.get(hub.url("/.well-known/oauth-authorization-server"), timeout=30).json()
    endpoint: str = metadata["token_endpoint"]
    return endpoint


def _assertion(hub: SecurityHub, client_id: str, audience: str, *, jti: str) -> str:
    key = ECKey.import_key(hub.client(client_id)["private_jwk"])
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": jti,
    }
    header = {"alg": "ES256", "typ": "JWT", "kid": key.kid}
    assertion = jwt.encode(header, claims, key, algorithms=["ES256"])
    register_secret(assertion, "client assertion")
    return assertion


def test_a_client_assertion_is_accepted_once(hub: SecurityHub, token_url: str) -> None:
    """Replay of a private_key_jwt client assertion (RFC 7523): the same jti a second time is
    invalid_client, although the assertion is still within its exp. OWASP API2:2023; ASVS 5.0
    V10.4.16 (strong client authentication resistant to replay: private_key_jwt), V10.4.10
    (confidential clients authenticated on the token request); DESIGN: "a jti is never
    accepted twice"."""
    form = {
        "grant_type": "client_credentials",
        "scope": "documents:read",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": _assertion(hub, "demo-ind", token_url, jti=secrets.token_urlsafe(16)),
    }
    first = httpx.post(token_url, data=form, timeout=30)
    assert first.status_code == 200, first.text
    register_secret(first.json()["access_token"], "access token")
    again = httpx.post(token_url, data=form, timeout=30)
    assert again.status_code in {400, 401}, again.text
    assert again.json()["error"] == "invalid_client"
    assert "access_token" not in again.text
