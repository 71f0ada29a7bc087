"""API5 Broken Function Level Authorization (and API1 on the read path), against the served hub.

The matrix is every demo client against every class of route. The oracle is written here, from
DESIGN.md's scopes, not read from the hub: a route class names the scope it needs, and a client
whose demo scopes lack it must get 403 ``insufficient_scope``; one that holds it must get past
the check (the request bodies are deliberately incomplete, so a client that passes answers 422
and nothing is created or changed). Separation of duties is checked where tokens are issued:
no demo client obtains a scope beyond its registration, so ``audit:read`` and ``admin`` never
join a casework scope.

Object level on reads: a document a caller may not see answers 404 exactly as a missing one
(same status, same problem document but for the echoed path); one it sees but may not delete or
share answers 403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pytest

from tests.security.conftest import SecurityHub

API: Final = "/api/v1"

CLIENTS: Final = (
    "demo-dtv",
    "demo-ind",
    "demo-coa",
    "demo-politie",
    "demo-kmar",
    "demo-dji",
    "demo-buza",
    "demo-iom",
    "demo-nidos",
    "demo-gm0363",
    "demo-gm0344",
    "demo-auditor",
    "demo-admin",
    "demo-metrics",
)
CASEWORK: Final = frozenset({"documents:read", "documents:write", "shares:write"})
DUTIES: Final = (CASEWORK, frozenset({"audit:read"}), frozenset({"admin"}))


@dataclass(frozen=True)
class RouteClass:
    """One class of route: a request to it, the scope it needs, and what a holder gets."""

    method: str
    path: str
    scope: str | None  # None: any authenticated client
    allowed: int
    json: Any = None
    multipart: bool = False

    def send(self, hub: SecurityHub, client_id: str) -> httpx.Response:
        kwargs: dict[str, Any] = {"headers": hub.auth(client_id), "timeout": 30}
        if self.json is not None:
            kwargs["json"] = self.json
        if self.multipart:
            # Metadata only, no file: whoever passes the scope check gets 422, nothing is stored.
            kwargs["files"] = {"document_type": (None, "travel_document")}
        return httpx.request(self.method, hub.url(self.path), **kwargs)


# One route per scope, and one that any authenticated client may call.
ROUTES: Final = {
    "list-documents": RouteClass("GET", f"{API}/documents?limit=1", "documents:read", 200),
    "upload": RouteClass("POST", f"{API}/documents", "documents:write", 422, multipart=True),
    "share": RouteClass("POST", f"{API}/shares", "shares:write", 422, {}),
    "audit-events": RouteClass("GET", f"{API}/audit/events?limit=1", "audit:read", 200),
    "subject-report": RouteClass("POST", f"{API}/audit/subject-report", "audit:read", 422, {}),
    "add-organisation": RouteClass("POST", f"{API}/organisations", "admin", 422, {}),
    "metrics": RouteClass("GET", "/metrics", "metrics:read", 200),
    "organisations": RouteClass("GET", f"{API}/organisations?limit=1", None, 200),
    "policy": RouteClass("GET", f"{API}/policy", None, 200),
    # The log's public parts, for every partner to verify its receipts (decision 0030).
    "audit-keys": RouteClass("GET", f"{API}/audit/keys", None, 200),
    "audit-checkpoint": RouteClass("GET", f"{API}/audit/checkpoints/latest", None, 200),
}


def _scopes(hub: SecurityHub, client_id: str) -> set[str]:
    scopes = hub.client(client_id)["scopes"]
    return set(scopes.split() if isinstance(scopes, str) else scopes)


@pytest.mark.parametrize("client_id", CLIENTS)
def test_each_client_reaches_only_the_route_classes_its_scopes_allow(
    hub: SecurityHub, client_id: str
) -> None:
    """The function-level matrix: each demo client x each route class. Without the route's
    scope the answer is 403 with an RFC 6750 ``insufficient_scope`` challenge naming it; with
    it, the request gets past the check. OWASP API5:2023 Broken Function Level Authorization;
    ASVS 5.0 V8.2.1 (function-level access only with explicit permission), V8.3.1 (enforced at
    a trusted service layer)."""
    held = _scopes(hub, client_id)
    wrong: list[str] = []
    for name, route in ROUTES.items():
        response = route.send(hub, client_id)
        expected = 403 if route.scope is not None and route.scope not in held else route.allowed
        if response.status_code != expected:
            wrong.append(f"{name}: {response.status_code} (expected {expected}) {response.text}")
        elif expected == 403 and route.path.startswith(API):
            challenge = response.headers.get("WWW-Authenticate", "")
            if 'error="insufficient_scope"' not in challenge:
                wrong.append(f"{name}: 403 without insufficient_scope: {challenge!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("client_id", CLIENTS)
def test_no_client_obtains_a_scope_beyond_its_duty(hub: SecurityHub, client_id: str) -> None:
    """Separation of duties at the token endpoint: a demo client holds scopes of one duty only
    (casework, audit or administration), and asking for a scope of another is invalid_scope,
    never a token. OWASP API5:2023; ASVS 5.0 V10.4.11 (the authorization server assigns only
    the client's required scopes), V8.2.1; DESIGN: audit:read and admin never with a document
    or share scope."""
    held = _scopes(hub, client_id)
    assert sum(bool(held & duty) for duty in DUTIES) <= 1, held
    client = hub.client(client_id)
    foreign = {"documents:read", "audit:read", "admin"} - held
    for scope in sorted(foreign):
        response = httpx.post(
            hub.url("/oauth/token"),
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(client_id, client["client_secret"]),
            timeout=30,
        )
        assert response.status_code == 400, (scope, response.text)
        assert response.json()["error"] == "invalid_scope"
        assert "access_token" not in response.json()


@pytest.fixture
def iom_document(hub: SecurityHub) -> str:
    """A travel document uploaded by IOM: visible to DTV, KMAR, IND and IOM, no one else."""
    document_id: str = hub.upload("demo-iom")["id"]
    return document_id


# One caller that may share (so POST /shares is tried too) and one that may only read.
@pytest.mark.parametrize("client_id", ["demo-gm0363", "demo-politie"])
def test_an_invisible_document_answers_as_a_missing_one(
    hub: SecurityHub, iom_document: str, client_id: str
) -> None:
    """Object level on every document route: metadata, content, HEAD, delete and a share of a
    document the caller cannot see answer exactly as for an id that does not exist (404, the
    same problem document but for the echoed path). OWASP API1:2023 Broken Object Level
    Authorization; ASVS 5.0 V8.2.2 (data-specific access, IDOR/BOLA); DESIGN: never leak
    existence."""
    missing = str(uuid.uuid4())
    for method, template in (
        ("GET", "{}"),
        ("GET", "{}/content"),
        ("HEAD", "{}/content"),
        ("DELETE", "{}"),
    ):
        invisible = httpx.request(
            method,
            hub.url(f"{API}/documents/{template.format(iom_document)}"),
            headers=hub.auth(client_id),
            timeout=30,
        )
        absent = httpx.request(
            method,
            hub.url(f"{API}/documents/{template.format(missing)}"),
            headers=hub.auth(client_id),
            timeout=30,
        )
        assert invisible.status_code == absent.status_code, (method, template, client_id)
        if method == "HEAD":
            assert invisible.status_code in {403, 404}
            continue
        # The body may echo the request path (``instance``), nothing else about the id.
        assert invisible.text.replace(iom_document, "ID") == absent.text.replace(missing, "ID")
    if "shares:write" in _scopes(hub, client_id):
        share = {
            "grantee": "GM0344",
            "purpose": "opvang",
            "expires_at": "2099-01-01T00:00:00Z",
        }
        invisible = httpx.post(
            hub.url(f"{API}/shares"),
            json={**share, "document_id": iom_document},
            headers=hub.auth(client_id),
            timeout=30,
        )
        absent = httpx.post(
            hub.url(f"{API}/shares"),
            json={**share, "document_id": missing},
            headers=hub.auth(client_id),
            timeout=30,
        )
        assert invisible.text.replace(iom_document, "ID") == absent.text.replace(missing, "ID")
        assert invisible.status_code in {404, 422}, invisible.text


def test_a_visible_document_the_caller_may_not_act_on_answers_403(
    hub: SecurityHub, iom_document: str
) -> None:
    """KMAR reads IOM's travel documents without a share, but may neither delete nor share
    them (the uploader and DTV may): 403, and the document is still there. OWASP API5:2023 /
    API1:2023; ASVS 5.0 V8.2.2, V8.2.1."""
    document = f"{API}/documents/{iom_document}"
    assert httpx.get(hub.url(document), headers=hub.auth("demo-kmar"), timeout=30).is_success
    deleted = httpx.delete(hub.url(document), headers=hub.auth("demo-kmar"), timeout=30)
    assert deleted.status_code == 403, deleted.text
    assert deleted.headers["content-type"] == "application/problem+json"
    shared = httpx.post(
        hub.url(f"{API}/shares"),
        json={
            "grantee": "GM0363",
            "document_id": iom_document,
            "purpose": "toezicht",
            "expires_at": "2099-01-01T00:00:00Z",
        },
        headers=hub.auth("demo-kmar"),
        timeout=30,
    )
    assert shared.status_code == 403, shared.text
    still = httpx.get(hub.url(document), headers=hub.auth("demo-iom"), timeout=30)
    assert still.status_code == 200


def test_the_auditor_reads_no_document_content(hub: SecurityHub, iom_document: str) -> None:
    """The auditor's duty reads the trail, never content: 403 on the content of any document.
    OWASP API5:2023; ASVS 5.0 V8.2.1; DESIGN: audit:read never reads content."""
    response = httpx.get(
        hub.url(f"{API}/documents/{iom_document}/content"),
        headers=hub.auth("demo-auditor"),
        timeout=30,
    )
    assert response.status_code == 403, response.text
    assert b"%PDF" not in response.content
