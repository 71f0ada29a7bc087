"""Protected endpoints: every way a token can be wrong answers 401, a missing scope 403.

Forged tokens are signed with the hub's real signing key unless the case is about the key,
so each test fails for exactly the one reason it names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from httpx import Response
from joserfc import jws, jwt
from joserfc.jwk import ECKey, RSAKey
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from auth.dependencies import AuditReader
from auth.scopes import Scope
from auth.tokens import TrustedIssuer
from hub.config import TrustedIssuerSettings
from tests.fixtures.oauth import AUDIENCE, ISSUER, Hub, hub_settings, start_hub

PROTECTED = "/api/v1/organisations"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "iom-client",
        "aud": AUDIENCE,
        "client_id": "iom-client",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": f"jti-{time.monotonic_ns()}",
        "scope": "documents:read",
        "organisation": "IOM",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hub_key(hub: Hub) -> tuple[Any, str]:
    return hub.services.oauth.signing.signing_key()


def _forge(hub: Hub, *, header: dict[str, Any] | None = None, **claims: Any) -> str:
    key, alg = _hub_key(hub)
    protected = {"alg": alg, "typ": "at+jwt", "kid": key.kid, **(header or {})}
    protected = {k: v for k, v in protected.items() if v is not None}
    return jwt.encode(protected, _claims(**claims), key, algorithms=[alg])


def _get(hub: Hub, token: str, path: str = PROTECTED) -> Response:
    return hub.client.get(path, headers={"Authorization": f"Bearer {token}"})


def _assert_401(response: Response, *, error: str | None = "invalid_token") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="ketenhub"')
    if error:
        assert f'error="{error}"' in challenge


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_valid_hub_token_is_accepted(hub: Hub) -> None:
    response = _get(hub, hub.token(hub.register()))
    assert response.status_code == 200
    assert {o["code"] for o in response.json()["items"]} >= {"DTV", "IOM", "GM0363"}


def test_a_forged_token_with_the_real_key_is_accepted(hub: Hub) -> None:
    """The baseline of every forgery below: only the named defect makes them fail."""
    assert _get(hub, _forge(hub)).status_code == 200


def test_no_token_is_401_without_an_error_code(hub: Hub) -> None:
    response = hub.client.get(PROTECTED)
    _assert_401(response, error=None)
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_alg_none(hub: Hub) -> None:
    header = _b64(
        json.dumps({"alg": "none", "typ": "at+jwt", "kid": _hub_key(hub)[0].kid}).encode()
    )
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}."
    _assert_401(_get(hub, token))


def test_hs256_signed_with_the_public_key(hub: Hub) -> None:
    """The classic algorithm confusion: the public key used as an HMAC secret.

    joserfc refuses to build such a key, so the token is signed by hand.
    """
    key, _ = _hub_key(hub)
    secret = key.as_pem(private=False)
    header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    _assert_401(_get(hub, f"{header}.{payload}.{_b64(mac)}"))


def test_missing_typ(hub: Hub) -> None:
    _assert_401(_get(hub, _forge(hub, header={"typ": None})))


def test_wrong_typ(hub: Hub) -> None:
    _assert_401(_get(hub, _forge(hub, header={"typ": "JWT"})))


def test_missing_iss(hub: Hub) -> None:
    _assert_401(_get(hub, _forge(hub, iss=None)))


def test_wrong_iss(hub: Hub) -> None:
    _assert_401(_get(hub, _forge(hub, iss="https://evil.example")))


def test_missing_aud(hub: Hub) -> None:
    _assert_401(_get(hub, _forge(hub, aud=None)))


def test_wrong_aud(hub: Hub) -> None:
    _assert_401(_get(hub, _forge(hub, aud="iom-client")))


def test_expired(hub: Hub) -> None:
    now = int(time.time())
    _assert_401(_get(hub, _forge(hub, iat=now - 7200, nbf=now - 7200, exp=now - 3600)))


def test_future_nbf(hub: Hub) -> None:
    _assert_401(_get(hub, _forge(hub, nbf=int(time.time()) + 600)))


def test_tampered_payload(hub: Hub) -> None:
    header, _payload, signature = _forge(hub).split(".")
    other = _b64(json.dumps(_claims(scope="documents:read audit:read admin")).encode())
    _assert_401(_get(hub, f"{header}.{other}.{signature}"))


def test_tampered_signature(hub: Hub) -> None:
    header, payload, signature = _forge(hub).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    _assert_401(_get(hub, f"{header}.{payload}.{_b64(bytes(raw))}"))


def test_unknown_kid(hub: Hub) -> None:
    _assert_401(_get(hub, _forge(hub, header={"kid": "sig-unknown"})))


def test_signed_by_a_key_the_hub_does_not_have(hub: Hub) -> None:
    stranger = RSAKey.generate_key(2048, {"kid": _hub_key(hub)[0].kid}, private=True)
    token = jwt.encode(
        {"alg": "PS256", "typ": "at+jwt", "kid": stranger.kid},
        _claims(),
        stranger,
        algorithms=["PS256"],
    )
    _assert_401(_get(hub, token))


def test_revoked_token(hub: Hub) -> None:
    client = hub.register()
    token = hub.token(client)
    assert _get(hub, token).status_code == 200
    revoked = hub.client.post(
        "/oauth/revoke", data={"token": token}, auth=(client.client_id, client.secret or "")
    )
    assert revoked.status_code == 200
    _assert_401(_get(hub, token))


def test_token_in_the_query_string(hub: Hub) -> None:
    token = hub.token(hub.register())
    _assert_401(hub.client.get(f"{PROTECTED}?access_token={token}"), error="invalid_request")


def test_token_in_the_query_string_is_refused_even_with_a_header(hub: Hub) -> None:
    token = hub.token(hub.register())
    response = hub.client.get(
        f"{PROTECTED}?access_token={token}", headers={"Authorization": f"Bearer {token}"}
    )
    _assert_401(response, error="invalid_request")


def test_token_from_an_untrusted_issuer(hub: Hub) -> None:
    stranger = ECKey.generate_key("P-256", {"kid": "partner-1"}, private=True)
    token = jwt.encode(
        {"alg": "ES256", "typ": "at+jwt", "kid": "partner-1"},
        _claims(iss="https://idp.partner.example"),
        stranger,
        algorithms=["ES256"],
    )
    _assert_401(_get(hub, token))


def test_garbage_token(hub: Hub) -> None:
    _assert_401(_get(hub, "not-a-jwt"))


def test_oversized_token(hub: Hub) -> None:
    _assert_401(_get(hub, "a" * 10_000))


def test_basic_scheme_is_refused(hub: Hub) -> None:
    response = hub.client.get(PROTECTED, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    _assert_401(response, error="invalid_request")


def test_missing_scope_is_403_insufficient_scope(hub: Hub) -> None:
    @hub.client.app.get("/test/audit-only")  # type: ignore[attr-defined]
    def audit_only(principal: AuditReader) -> dict[str, str]:
        return {"organisation": principal.organisation}

    client = hub.register(scopes="documents:read")
    response = _get(hub, hub.token(client), "/test/audit-only")
    assert response.status_code == 403
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="audit:read"' in challenge
    auditor = hub.register(organisation="DTV", scopes="audit:read")
    assert _get(hub, hub.token(auditor), "/test/audit-only").json() == {"organisation": "DTV"}


# -- trusted external issuers ------------------------------------------------------------------


class _JwksServer:
    """A partner's authorization server, as far as the hub sees it: a JWKS over HTTP."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        document = json.dumps(jwks).encode()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


PARTNER = "https://idp.kmar.example"


@pytest.fixture
def partner_key() -> ECKey:
    return ECKey.generate_key("P-256", {"kid": "kmar-1", "alg": "ES256"}, private=True)


@pytest.fixture
def partner_hub(
    tmp_path: Path, fresh_database_url: str, partner_key: ECKey
) -> Iterator[tuple[Hub, _JwksServer]]:
    with _JwksServer({"keys": [partner_key.as_dict(private=False)]}) as jwks_server:
        settings = hub_settings(
            tmp_path,
            fresh_database_url,
            trusted_issuers=(
                TrustedIssuerSettings(
                    issuer=PARTNER,
                    jwks_url=jwks_server.url,
                    organisation_claim="org_code",
                    allowed_scopes=("documents:read",),
                    organisations=("KMAR",),
                ),
            ),
        )
        for hub in start_hub(settings):
            yield hub, jwks_server


def _partner_token(key: ECKey, **claims: Any) -> str:
    body = _claims(**{"iss": PARTNER, "org_code": "KMAR", "organisation": None, **claims})
    return jwt.encode(
        {"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, body, key, algorithms=["ES256"]
    )


def test_a_trusted_issuers_token_is_accepted(
    partner_hub: tuple[Hub, _JwksServer], partner_key: ECKey
) -> None:
    hub, server = partner_hub
    assert _get(hub, _partner_token(partner_key)).status_code == 200
    assert _get(hub, _partner_token(partner_key)).status_code == 200
    assert server.requests == 1  # the key set is cached


def test_a_trusted_issuers_scopes_are_cut_to_what_is_allowed(
    partner_hub: tuple[Hub, _JwksServer], partner_key: ECKey
) -> None:
    hub, _ = partner_hub
    validator = hub.services.oauth.validator
    principal = validator.validate(_partner_token(partner_key, scope="documents:read admin"))
    assert principal.scopes == {Scope.DOCUMENTS_READ}
    assert principal.organisation == "KMAR"


def test_a_trusted_issuer_cannot_speak_for_another_organisation(
    partner_hub: tuple[Hub, _JwksServer], partner_key: ECKey
) -> None:
    hub, _ = partner_hub
    _assert_401(_get(hub, _partner_token(partner_key, org_code="DTV")))
    # Recorded, with the issuer: the attempt matters to the organisation it named (issue 11).
    with Session(hub.services.engine) as session:
        refused = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "token.refuse")
        ).one()
    assert (refused.outcome, refused.organisation, refused.actor_issuer) == (
        "denied",
        "DTV",
        PARTNER,
    )


def test_a_trusted_issuers_principal_names_its_issuer(
    partner_hub: tuple[Hub, _JwksServer], partner_key: ECKey
) -> None:
    hub, _ = partner_hub
    principal = hub.services.oauth.validator.validate(_partner_token(partner_key))
    assert principal.partner_issuer == PARTNER


def test_a_trusted_issuer_without_organisations_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="names no organisations"):
        TrustedIssuer(
            issuer=PARTNER,
            jwks_url="https://idp.kmar.example/jwks",
            organisation_claim="org_code",
            allowed_scopes=frozenset({Scope.DOCUMENTS_READ}),
            organisations=frozenset(),
        )


def test_a_trusted_issuers_token_signed_by_another_key(
    partner_hub: tuple[Hub, _JwksServer],
) -> None:
    hub, _ = partner_hub
    impostor = ECKey.generate_key("P-256", {"kid": "kmar-1"}, private=True)
    _assert_401(_get(hub, _partner_token(impostor)))


def test_jws_header_is_read_before_any_key_is_chosen() -> None:
    """Sanity check of the helper the forgeries rely on."""
    key = ECKey.generate_key("P-256", {"kid": "x"}, private=True)
    token = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "x"}, {"a": 1}, key)
    assert jws.extract_compact(token.encode()).headers()["kid"] == "x"
