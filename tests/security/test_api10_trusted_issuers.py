"""Trusted partner issuers: whom they may act for, how the trail names their clients, and what
their key servers can do to the hub (issue 11).

OWASP API Security Top 10 (2023): API10 Unsafe Consumption of APIs (a partner's key server is an
API the hub consumes), API2 Broken Authentication (a partner's token acting for an organisation
it does not speak for).

One hub of its own per database kind, configured with five trusted issuers whose key sets a real
HTTP server in the test process serves: well, slowly, a byte at a time, 300 MB at once, or with
500. Both kinds, because the trail's issuer field is a column of each database's own migration.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from auth.tokens import JWKS_MAX_BYTES
from tests.fixtures.cli import ketenhub_env, run_ketenhub
from tests.fixtures.databases import PostgresDatabases
from tests.fixtures.partner_idp import PartnerKeyServer
from tests.fixtures.secrets import register_secret
from tests.security.conftest import DATABASE_KINDS, SecurityHub, start_hub

KINDS = ("good", "slow", "drip", "huge", "error")
# Long enough that /healthz and an own-token read fit inside one fetch, short enough to wait for.
JWKS_TIMEOUT = 3.0
DOCUMENTS = "/api/v1/documents"


def _issuer(server: PartnerKeyServer, kind: str) -> str:
    return f"{server.base_url}/{kind}"


@pytest.fixture(scope="module")
def partner() -> Iterator[PartnerKeyServer]:
    key = ECKey.generate_key("P-256", {"kid": "partner-1", "alg": "ES256"}, private=True)
    with PartnerKeyServer(key, slow_seconds=30.0, drip_interval=0.1) as server:
        yield server


@pytest.fixture(scope="module", params=DATABASE_KINDS)
def partner_hub(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
    partner: PartnerKeyServer,
) -> Iterator[SecurityHub]:
    trusted = [
        {
            "issuer": _issuer(partner, kind),
            "jwks_url": partner.url(f"/{kind}.json"),
            "allowed_scopes": ["documents:read"],
            "organisations": ["KMAR"],
        }
        for kind in KINDS
    ]
    env = {
        "KETENHUB_TRUSTED_ISSUERS": json.dumps(trusted),
        "KETENHUB_JWKS_TIMEOUT": str(JWKS_TIMEOUT),
        "KETENHUB_JWKS_FAILURE_TTL": "60",
    }
    root = tmp_path_factory.mktemp(f"security-trusted-issuers-{request.param}")
    with start_hub(root, request.param, postgres_databases, env=env) as served:
        yield served


def _token(
    partner: PartnerKeyServer, hub: SecurityHub, kind: str, *, organisation: str = "KMAR"
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": _issuer(partner, kind),
        "sub": "demo-dtv",
        "client_id": "demo-dtv",  # the partner's own id, which happens to be one of the hub's
        "aud": f"{hub.base_url}/api/v1",
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(16),
        "scope": "documents:read",
        "organisation": organisation,
    }
    header = {"alg": "ES256", "typ": "at+jwt", "kid": partner.key.kid}
    token = jwt.encode(header, claims, partner.key, algorithms=["ES256"])
    register_secret(token, "partner access token")
    return token


def _get(hub: SecurityHub, token: str, *, timeout: float = 30) -> httpx.Response:
    return httpx.get(
        hub.url(DOCUMENTS), headers={"Authorization": f"Bearer {token}"}, timeout=timeout
    )


def test_an_issuer_without_organisations_does_not_start(tmp_path: Path) -> None:
    """A trusted issuer entry that names no organisations is a configuration error at start,
    with a message naming the issuer: there is no default "any organisation".

    API2:2023 Broken Authentication; ASVS 5.0 V8.4.1 (cross-tenant control: an issuer acts only
    for the organisations configured for it, never by default for any)."""
    entry = {
        "issuer": "https://idp.partner.example",
        "jwks_url": "https://idp.partner.example/jwks",
        "allowed_scopes": ["documents:read"],
    }
    env = ketenhub_env(
        tmp_path / "var",
        KETENHUB_ENVIRONMENT="demo",
        KETENHUB_TRUSTED_ISSUERS=json.dumps([entry]),
    )
    result = run_ketenhub(env, "init", "--demo", check=False)
    assert result.returncode != 0
    assert "https://idp.partner.example: name the organisations" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_partner_cannot_act_for_an_organisation_outside_its_list(
    partner: PartnerKeyServer, partner_hub: SecurityHub
) -> None:
    """A partner issuer's validly signed token for DTV is refused (401 invalid_token), and the
    attempt is recorded with the partner's issuer, the client id and the organisation it named.

    API2:2023 Broken Authentication; ASVS 5.0 V8.4.1 (no acting on an organisation the issuer
    was not configured for), V6.8.1 (DTV's identity cannot be spoofed through another identity
    provider), V16.3.1 (failed authentication is logged)."""
    mark = partner_hub.log_mark()
    refused = _get(partner_hub, _token(partner, partner_hub, "good", organisation="DTV"))
    assert refused.status_code == 401, refused.text
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    events = partner_hub.events(action="token.refuse")
    assert events, "the refusal was not recorded"
    leaf = events[-1]["leaf"]
    assert leaf["outcome"] == "denied"
    assert leaf["actor_id"] == "demo-dtv"
    assert leaf["organisation"] == "DTV"
    assert leaf["actor_issuer"] == _issuer(partner, "good")
    partner_hub.assert_no_traceback_since(mark)


def test_the_trail_names_the_partners_issuer_with_its_client_id(
    partner: PartnerKeyServer, partner_hub: SecurityHub
) -> None:
    """A partner's client called ``demo-dtv`` acting for KMAR is recorded with its issuer, so the
    trail never confuses it with the hub's own ``demo-dtv``; the hub's own clients carry none.

    API10:2023 Unsafe Consumption of APIs; ASVS 5.0 V10.3.3 (a caller is identified by issuer and
    subject, never by a claim another issuer can reuse), V6.8.1 (the issuer is the namespace of
    the client id), V16.2.1 (each log entry says who)."""
    accepted = _get(partner_hub, _token(partner, partner_hub, "good"))
    assert accepted.status_code == 200, accepted.text
    own = httpx.get(partner_hub.url(DOCUMENTS), headers=partner_hub.auth("demo-dtv"), timeout=30)
    assert own.status_code == 200, own.text
    listed = [e["leaf"] for e in partner_hub.events(action="document.list")]
    partners = [leaf for leaf in listed if leaf.get("organisation") == "KMAR"]
    hubs = [leaf for leaf in listed if leaf.get("organisation") == "DTV"]
    assert partners
    assert hubs
    assert partners[-1]["actor_id"] == "demo-dtv"
    assert partners[-1]["actor_issuer"] == _issuer(partner, "good")
    assert hubs[-1]["actor_id"] == "demo-dtv"
    assert "actor_issuer" not in hubs[-1]


def _wait_for(condition: Any, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the hub never asked the key server"
        time.sleep(0.01)


@pytest.mark.parametrize("kind", ["slow", "drip"])
def test_a_slow_key_server_does_not_hold_the_hub(
    partner: PartnerKeyServer, partner_hub: SecurityHub, kind: str
) -> None:
    """30 concurrent requests with tokens of an issuer whose key server answers slowly (or a
    byte at a time) are all refused within the fetch's overall deadline, cause one fetch, and
    meanwhile, while every one of them still waits, the hub's own tokens and /healthz answer.

    The test asserts the order of events, not a tight wall-clock bound: the health and own-token
    answers arrive while none of the 30 has been answered and well before the fetch's deadline,
    which a hub held by the fetch could not do. (An earlier form timed /healthz against 1 s while
    the test process was still signing and sending the 30 tokens; on a loaded CI machine that
    took 2 s: a flake, not a hold.)

    API10:2023 Unsafe Consumption of APIs, API4:2023 Unrestricted Resource Consumption; ASVS 5.0
    V15.2.2 (a resource-demanding call bounded), V13.2.6 (the connection to another service
    keeps its documented timeout), V16.5.2 (the hub keeps working when an external resource
    fails)."""
    mark = partner_hub.log_mark()
    own = partner_hub.auth("demo-iom")
    path = f"/{kind}.json"
    before = partner.requests[path]
    answers: list[tuple[int, float]] = []
    lock = threading.Lock()
    tokens = [_token(partner, partner_hub, kind) for _ in range(30)]

    def attack(token: str) -> None:
        started = time.monotonic()
        try:
            status = _get(partner_hub, token, timeout=20).status_code
        except httpx.TimeoutException:
            status = 0
        with lock:
            answers.append((status, time.monotonic() - started))

    threads = [threading.Thread(target=attack, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    # The fetch has begun: from here until its deadline every attacking request waits for it.
    _wait_for(lambda: partner.requests[path] > before, seconds=JWKS_TIMEOUT)
    fetching_since = time.monotonic()
    health = httpx.get(partner_hub.url("/healthz"), timeout=10)
    served = httpx.get(partner_hub.url(DOCUMENTS), headers=own, timeout=10)
    within = time.monotonic() - fetching_since
    with lock:
        answered_meanwhile = len(answers)
    for thread in threads:
        thread.join()
    assert health.status_code == 200
    assert served.status_code == 200, served.text
    # A held hub answers both only once the fetch gives up, JWKS_TIMEOUT after it began.
    assert answered_meanwhile == 0, "the key server's deadline passed before the hub answered"
    assert within < JWKS_TIMEOUT - 0.5
    assert [status for status, _ in answers] == [401] * 30
    assert max(seconds for _, seconds in answers) < JWKS_TIMEOUT + 2.0
    assert partner.requests[path] - before == 1
    partner_hub.assert_no_traceback_since(mark)


@pytest.mark.parametrize("path", ["/huge.json"])
def test_a_huge_key_set_is_not_read_whole(
    partner: PartnerKeyServer, partner_hub: SecurityHub, path: str
) -> None:
    """A key server answering 300 MB without Content-Length: the hub stops reading at its limit
    (256 KiB), its memory stays put, and the token is refused.

    API10:2023 Unsafe Consumption of APIs, API4:2023 Unrestricted Resource Consumption; ASVS 5.0
    V15.2.2 (a resource-demanding call bounded), V16.5.2."""
    before = partner_hub.rss_bytes()
    refused = _get(partner_hub, _token(partner, partner_hub, "huge"))
    assert refused.status_code == 401, refused.text
    assert partner.wait_quiet(path) < JWKS_MAX_BYTES + 16 * 1024 * 1024
    assert partner_hub.rss_bytes() - before < 32 * 1024 * 1024
    assert partner_hub.alive()


def test_a_failing_key_server_is_asked_once_not_once_per_token(
    partner: PartnerKeyServer, partner_hub: SecurityHub
) -> None:
    """A key server that answers 500: 40 tokens of its issuer are refused and cause one fetch,
    not 40 (the failure is remembered).

    API10:2023 Unsafe Consumption of APIs; ASVS 5.0 V13.2.6 (the documented retry strategy for
    another service is kept), V16.5.2 (a failing key server is remembered, like a circuit
    breaker)."""
    before = partner.requests["/error.json"]
    for _ in range(40):
        assert _get(partner_hub, _token(partner, partner_hub, "error")).status_code == 401
    assert partner.requests["/error.json"] - before == 1
