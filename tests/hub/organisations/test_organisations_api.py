"""``/api/v1/organisations``: adding, disabling, enabling and renaming organisations, and what
disabling one does to its clients' tokens and to its shares.

DESIGN.md: with ``admin``, ``POST /organisations`` and ``PATCH /organisations/{code}``; "shares
belong to the granting organisation … disabling an organisation stops its shares granting";
disabling takes effect on every replica within 5 seconds (this replica: at once, since it
reloads after its own change; the bound for the others is tested in ``test_standing.py``).
Every change and every refusal is an audit event naming the administrator's client.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from itertools import count
from typing import Any, Final

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from hub.clients.service import disable_client
from hub.core import db
from hub.directory import organisations_repository as repository
from hub.tables.organisations import Organisation, OrganisationKind
from tests.fixtures.documents import API, DocumentHub, pdf
from tests.fixtures.oauth import ISSUER, RegisteredClient, make_assertion

CASEWORK: Final = "documents:read documents:write shares:write"
_codes = count(9001)
_cases = count(4100000001)


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    """One hub per backend for this module; each test adds organisations of its own."""
    return module_documents_hub


def new_code() -> str:
    """A gemeente code no other test of this run uses (the CBS has none above GM1999)."""
    return f"GM{next(_codes)}"


def new_case() -> str:
    return str(next(_cases))


def admin(documents_hub: DocumentHub) -> dict[str, str]:
    return documents_hub.auth("DTV", "admin")


def head(documents_hub: DocumentHub) -> int:
    with Session(documents_hub.hub.services.engine) as session:
        last = session.exec(select(AuditEvent.seq).order_by(col(AuditEvent.seq).desc())).first()
        return -1 if last is None else last


def events(documents_hub: DocumentHub, since: int, prefix: str) -> list[AuditEvent]:
    with Session(documents_hub.hub.services.engine) as session:
        statement = (
            select(AuditEvent)
            .where(col(AuditEvent.seq) > since, col(AuditEvent.action).startswith(prefix))
            .order_by(col(AuditEvent.seq))
        )
        return list(session.exec(statement).all())


def add(documents_hub: DocumentHub, body: dict[str, Any]) -> httpx.Response:
    return documents_hub.client.post(
        f"{API}/organisations", json=body, headers=admin(documents_hub)
    )


def add_gemeente(documents_hub: DocumentHub, code: str | None = None) -> str:
    code = code or new_code()
    response = add(documents_hub, {"code": code, "name": f"Gemeente {code}", "kind": "gemeente"})
    assert response.status_code == 201, response.text
    return code


def patch(documents_hub: DocumentHub, code: str, body: dict[str, Any]) -> httpx.Response:
    return documents_hub.client.patch(
        f"{API}/organisations/{code}", json=body, headers=admin(documents_hub)
    )


def assertion_form(client: RegisteredClient) -> dict[str, str]:
    """A client credentials request authenticated by ``client``'s assertion."""
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": make_assertion(client),
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- adding ------------------------------------------------------------------------------------


def test_an_administrator_adds_a_gemeente(documents_hub: DocumentHub) -> None:
    code, since = new_code(), head(documents_hub)
    response = add(documents_hub, {"code": code, "name": " Gemeente Súdwest ", "kind": "gemeente"})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{API}/organisations/{code}"
    expected = {"code": code, "name": "Gemeente Súdwest", "kind": "gemeente", "enabled": True}
    assert response.json() == expected
    one = documents_hub.client.get(f"{API}/organisations/{code}", headers=documents_hub.auth("IOM"))
    assert one.json() == expected
    listed = documents_hub.client.get(
        f"{API}/organisations", params={"limit": "500"}, headers=documents_hub.auth("IOM")
    )
    assert expected in listed.json()["items"]
    [event] = events(documents_hub, since, "organisation.")
    assert (event.action, event.outcome, event.resource_id) == ("organisation.add", "success", code)
    assert (event.organisation, event.actor_type) == ("DTV", "client")
    assert event.detail == "kind gemeente"


def test_an_unknown_organisation_is_404(documents_hub: DocumentHub) -> None:
    response = documents_hub.client.get(
        f"{API}/organisations/GM1998", headers=documents_hub.auth("IOM")
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"code": "gm0599", "kind": "gemeente"}, "not an organisation code"),
        ({"code": "G", "kind": "rijk"}, "not an organisation code"),
        ({"code": "A" * 17, "kind": "rijk"}, "not an organisation code"),
        ({"code": "ROTTERDAM", "kind": "gemeente"}, "CBS code"),
        ({"code": "GM0599X", "kind": "gemeente"}, "CBS code"),
        ({"code": "GM0001", "kind": "rijk"}, "only kind gemeente"),
        ({"code": "WATERSCHAP", "kind": "waterschap"}, "unknown kind"),
        ({"code": "NEWORG", "kind": "rijk", "name": "Evil\u202egnp.exe"}, "U+202E"),
        ({"code": "NEWORG", "kind": "rijk", "name": "two\nlines"}, "U+000A"),
        ({"code": "NEWORG", "kind": "rijk", "name": "   "}, "must not be empty"),
        ({"code": "NEWORG", "kind": "rijk", "name": "x" * 201}, "at most 200"),
    ],
    ids=[
        "lower-case",
        "too-short",
        "too-long",
        "gemeente-without-cbs-code",
        "cbs-code-with-suffix",
        "cbs-code-for-rijk",
        "unknown-kind",
        "bidi-override",
        "newline",
        "blank-name",
        "long-name",
    ],
)
def test_a_bad_organisation_is_refused_and_recorded(
    documents_hub: DocumentHub, body: dict[str, str], message: str
) -> None:
    since = head(documents_hub)
    response = add(documents_hub, {"name": "Nieuwe organisatie", **body})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert message in response.json()["detail"]
    assert "\u202e" not in response.text  # the name is not reflected back
    [event] = events(documents_hub, since, "organisation.")
    assert (event.action, event.outcome, event.detail) == ("organisation.add", "invalid", "invalid")
    with Session(documents_hub.hub.services.engine) as session:
        assert repository.get(session, body["code"]) is None


def test_a_code_taken_is_409_and_recorded(documents_hub: DocumentHub) -> None:
    code = add_gemeente(documents_hub)
    since = head(documents_hub)
    response = add(documents_hub, {"code": code, "name": "Andere naam", "kind": "gemeente"})
    assert response.status_code == 409
    assert code in response.json()["detail"]
    [event] = events(documents_hub, since, "organisation.")
    assert (event.outcome, event.resource_id, event.detail) == ("invalid", code, "exists already")
    with Session(documents_hub.hub.services.engine) as session:
        organisation = repository.get(session, code)
        assert organisation is not None
        assert organisation.name == f"Gemeente {code}"  # the first one stands


@pytest.mark.parametrize(
    "body",
    [
        {"code": "XTRA", "name": "x", "kind": "rijk", "enabled": False},
        {"code": "XTRA", "name": "x"},
        {"code": 12, "name": "x", "kind": "rijk"},
    ],
    ids=["extra-field", "missing-kind", "number-as-code"],
)
def test_a_malformed_body_is_422(documents_hub: DocumentHub, body: dict[str, Any]) -> None:
    response = add(documents_hub, body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_adding_needs_the_admin_scope_and_the_refusal_is_recorded(
    documents_hub: DocumentHub,
) -> None:
    code, since = new_code(), head(documents_hub)
    response = documents_hub.client.post(
        f"{API}/organisations",
        json={"code": code, "name": "x", "kind": "gemeente"},
        headers=documents_hub.auth("DTV"),
    )
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    [event] = events(documents_hub, since, "organisation.")
    assert (event.action, event.outcome, event.organisation) == (
        "organisation.add",
        "denied",
        "DTV",
    )


@pytest.mark.postgres
def test_concurrent_adds_of_one_code_answer_409_not_500(fresh_postgres_url: str) -> None:
    """The primary key decides between two transactions that both found the code free. (On
    PostgreSQL only: SQLite serialises writers, so its transactions cannot interleave.)"""
    engine = db.make_engine(fresh_postgres_url)
    db.migrate(engine)
    code = new_code()
    try:
        with Session(engine) as first, Session(engine) as second:
            first.add(Organisation(code=code, name="first", kind=OrganisationKind.GEMEENTE))
            first.flush()  # holds the key, uncommitted
            assert second.get(Organisation, code) is None  # not visible yet
            threading.Timer(0.5, first.commit).start()
            # Waits for the first transaction, then loses to it; the session stays usable.
            row = Organisation(code=code, name="second", kind=OrganisationKind.GEMEENTE)
            assert repository.insert(second, row) is False
            assert second.get(Organisation, code) is not None
            second.rollback()
    finally:
        db.dispose(engine)


# -- a new gemeente is covered by the policy's kinds -------------------------------------------


def test_a_gemeente_added_through_the_api_works_under_the_policy_at_once(
    documents_hub: DocumentHub,
) -> None:
    """No restart and no policy edit: ``case_info`` may be uploaded by kind ``gemeente``."""
    services = documents_hub.hub.services
    policy_hash = services.policy.hash
    gm0599 = documents_hub.hub.register(organisation="DTV", scopes="admin", client_id="demo-admin")
    response = documents_hub.client.post(
        f"{API}/organisations",
        json={"code": "GM0599", "name": "Gemeente Rotterdam", "kind": "gemeente"},
        headers=bearer(documents_hub.hub.token(gm0599)),
    )
    assert response.status_code == 201, response.text

    case = new_case()
    own = documents_hub.upload("GM0599", pdf(seed=1), document_type="case_info", v_number=case)
    assert own.status_code == 201, own.text
    travel = documents_hub.uploaded("IOM", pdf(seed=2), v_number=case)["id"]
    assert documents_hub.content("GM0599", travel).status_code == 404
    shared = documents_hub.share(
        "DTV", grantee="GM0599", v_number=case, document_types=["travel_document"]
    )
    assert shared.status_code == 201, shared.text
    assert documents_hub.content("GM0599", travel).status_code == 200
    assert services.policy.hash == policy_hash


# -- disabling, enabling, renaming -------------------------------------------------------------


def test_disabling_ends_the_organisations_tokens_and_enabling_lets_it_get_new_ones(
    documents_hub: DocumentHub,
) -> None:
    code = add_gemeente(documents_hub)
    client = documents_hub.hub.register(organisation=code, scopes=CASEWORK)
    token = documents_hub.hub.token(client)
    listing = f"{API}/documents"
    assert documents_hub.client.get(listing, headers=bearer(token)).status_code == 200

    since = head(documents_hub)
    disabled = patch(documents_hub, code, {"enabled": False})
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["enabled"] is False
    # The disabled organisation's system calls from an address of its own: its first refusal
    # in the interval is recorded at once, the rest counted into one summary (decision 0020).
    partner = TestClient(documents_hub.client.app, base_url=ISSUER, client=("192.0.2.17", 40000))
    assert partner.post("/oauth/token", data=assertion_form(client)).json()["error"] == (
        "invalid_client"
    )
    refused = partner.get(listing, headers=bearer(token))
    assert refused.status_code == 401
    assert "organisation is unknown or disabled" in refused.json()["detail"]
    event, issue = events(documents_hub, since, "organisation.") + events(
        documents_hub, since, "token."
    )
    assert (event.action, event.outcome, event.resource_id) == (
        "organisation.disable",
        "success",
        code,
    )
    # The refused client is named, though it authenticated with an assertion only.
    assert (issue.outcome, issue.actor_id, issue.detail) == (
        "denied",
        client.client_id,
        "invalid_client",
    )

    enabled = patch(documents_hub, code, {"enabled": True})
    assert enabled.json()["enabled"] is True
    # Disabling ended the tokens its clients held; enabling lets them get new ones.
    assert documents_hub.client.get(listing, headers=bearer(token)).status_code == 401
    time.sleep(1.01 - time.time() % 1)  # iat is in whole seconds: a later one than the disabling
    new_token = documents_hub.hub.token(client)
    assert documents_hub.client.get(listing, headers=bearer(new_token)).status_code == 200


def test_renaming_and_repeating_a_change_are_recorded(documents_hub: DocumentHub) -> None:
    code = add_gemeente(documents_hub)
    since = head(documents_hub)
    renamed = patch(documents_hub, code, {"name": "Gemeente Nieuw", "enabled": True})
    assert renamed.status_code == 200
    assert renamed.json() == {
        "code": code,
        "name": "Gemeente Nieuw",
        "kind": "gemeente",
        "enabled": True,
    }
    found = [(e.action, e.detail) for e in events(documents_hub, since, "organisation.")]
    assert found == [("organisation.update", "renamed"), ("organisation.enable", "already enabled")]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({}, 422, "nothing to change"),
        ({"name": "a\x00b"}, 422, "invalid"),
    ],
    ids=["empty", "bad-name"],
)
def test_a_refused_change_changes_nothing_and_is_recorded(
    documents_hub: DocumentHub, body: dict[str, Any], status: int, detail: str
) -> None:
    code = add_gemeente(documents_hub)
    since = head(documents_hub)
    response = patch(documents_hub, code, {**body, "enabled": False} if body else body)
    assert response.status_code == status, response.text
    [event] = events(documents_hub, since, "organisation.")
    assert (event.action, event.outcome, event.detail) == ("organisation.update", "invalid", detail)
    with Session(documents_hub.hub.services.engine) as session:
        organisation = repository.get(session, code)
        assert organisation is not None
        assert organisation.enabled  # the valid half of the request was not applied either


def test_changing_an_unknown_organisation_is_404_and_recorded(documents_hub: DocumentHub) -> None:
    since = head(documents_hub)
    response = patch(documents_hub, "GM1997", {"enabled": False})
    assert response.status_code == 404
    [event] = events(documents_hub, since, "organisation.")
    assert (event.outcome, event.resource_id) == ("not_found", "GM1997")


def test_an_administrator_cannot_disable_its_own_organisation(documents_hub: DocumentHub) -> None:
    since = head(documents_hub)
    response = patch(documents_hub, "DTV", {"enabled": False})
    assert response.status_code == 403
    assert "ketenhub org disable" in response.json()["detail"]
    [event] = events(documents_hub, since, "organisation.")
    assert (event.action, event.outcome, event.detail) == (
        "organisation.disable",
        "denied",
        "own organisation",
    )
    with Session(documents_hub.hub.services.engine) as session:
        assert repository.is_enabled(session, "DTV")


@pytest.mark.parametrize(
    "body",
    [{"enabled": "false"}, {"enabled": 0}, {"enabled": False, "kind": "rijk"}],
    ids=["string", "number", "kind-is-not-changeable"],
)
def test_a_malformed_change_is_422(documents_hub: DocumentHub, body: dict[str, Any]) -> None:
    code = add_gemeente(documents_hub)
    assert patch(documents_hub, code, body).status_code == 422
    with Session(documents_hub.hub.services.engine) as session:
        assert repository.is_enabled(session, code)


def test_changing_needs_the_admin_scope(documents_hub: DocumentHub) -> None:
    code = add_gemeente(documents_hub)
    response = documents_hub.client.patch(
        f"{API}/organisations/{code}",
        json={"enabled": False},
        headers=documents_hub.auth("DTV", "audit:read"),
    )
    assert response.status_code == 403


# -- every route refuses a token that may no longer act ----------------------------------------

_PATH_VALUES: Final = {
    "document_id": str(uuid.uuid4()),
    "share_id": str(uuid.uuid4()),
    "subscription_id": str(uuid.uuid4()),
    "upload_id": str(uuid.uuid4()),
    "code": "DTV",
}


def _api_requests(documents_hub: DocumentHub) -> list[tuple[str, str]]:
    """Every operation under /api that the OpenAPI document describes, with its path filled."""
    app = documents_hub.client.app
    assert isinstance(app, FastAPI)
    return [
        (method.upper(), re.sub(r"\{(\w+)\}", lambda m: _PATH_VALUES.get(m[1], "0"), path))
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/")
        for method in operations
        if (method.upper(), path) not in _PUBLIC
    ]


_PUBLIC: Final = frozenset({("OPTIONS", "/api/v1/uploads")})
"""Operations that need no token: tus's discovery says what the server supports and nothing
about anyone's data (decision 0032); a tus client may ask it before it has a token."""


@pytest.mark.parametrize("what", ["organisation", "client"])
def test_every_api_route_refuses_a_token_that_may_no_longer_act(
    documents_hub: DocumentHub, what: str
) -> None:
    """The audit, policy and organisations routes included: the check is in the validator."""
    code = add_gemeente(documents_hub)
    clients: list[RegisteredClient] = [
        documents_hub.hub.register(organisation=code, scopes=scopes)
        for scopes in (CASEWORK, "audit:read", "admin")
    ]
    tokens = [documents_hub.hub.token(client) for client in clients]
    requests = _api_requests(documents_hub)
    assert {path.split("/")[3] for _, path in requests} >= {
        "audit",
        "documents",
        "organisations",
        "policy",
        "shares",
    }
    if what == "organisation":
        assert patch(documents_hub, code, {"enabled": False}).status_code == 200
    else:
        # As `ketenhub client disable` does, from another process; then as the cut-off
        # passing would make this replica see it.
        with db.transaction(documents_hub.hub.services.engine) as session:
            for client in clients:
                disable_client(session, client.client_id)
        documents_hub.hub.services.oauth.standing.invalidate()
    for token in tokens:
        for method, path in requests:
            response = documents_hub.client.request(method, path, headers=bearer(token), json={})
            assert response.status_code == 401, (method, path, response.text)
            assert 'error="invalid_token"' in response.headers["www-authenticate"]


# -- shares of a disabled organisation ---------------------------------------------------------


def _listed(documents_hub: DocumentHub, org: str, case: str) -> set[str]:
    listed = documents_hub.client.get(
        f"{API}/documents", params={"limit": "500"}, headers=documents_hub.auth(org)
    )
    found = documents_hub.client.post(
        f"{API}/documents/search", json={"v_number": case}, headers=documents_hub.auth(org)
    )
    assert listed.status_code == found.status_code == 200, listed.text + found.text
    in_list = {item["id"] for item in listed.json()["items"]}
    in_search = {item["id"] for item in found.json()["items"]}
    assert in_list & in_search == in_search  # the search is the list, cut to the case
    return in_search


def _readable(documents_hub: DocumentHub, org: str, document_id: str) -> bool:
    metadata = documents_hub.client.get(
        f"{API}/documents/{document_id}", headers=documents_hub.auth(org)
    ).status_code
    content = documents_hub.content(org, document_id).status_code
    assert metadata == content, (metadata, content)
    return metadata == 200


def test_a_disabled_organisations_shares_grant_nothing_in_lists_or_reads(
    documents_hub: DocumentHub,
) -> None:
    """Both kinds of share, the document's and the case's, in the SQL of lists and in the
    decision of a single read."""
    grantor, grantee = add_gemeente(documents_hub), add_gemeente(documents_hub)
    case = new_case()
    by_document = documents_hub.uploaded(
        grantor, pdf(seed=3), document_type="case_info", v_number=case
    )["id"]
    by_case = documents_hub.uploaded(
        grantor, pdf(seed=4), document_type="case_info", v_number=case
    )["id"]
    for body in ({"document_id": by_document}, {"v_number": case, "document_types": ["case_info"]}):
        shared = documents_hub.share(grantor, grantee=grantee, **body)
        assert shared.status_code == 201, shared.text
    # The case share covers both (the grantor's own uploads); the document share the first.
    assert _listed(documents_hub, grantee, case) == {by_document, by_case}
    assert _readable(documents_hub, grantee, by_document)

    assert _share_states(documents_hub, grantee) == ["active", "active"]
    assert patch(documents_hub, grantor, {"enabled": False}).status_code == 200
    assert _listed(documents_hub, grantee, case) == set()
    assert not _readable(documents_hub, grantee, by_document)
    assert not _readable(documents_hub, grantee, by_case)
    # The grantee's list of shares says so, and state=active leaves them out (issue 11).
    assert _share_states(documents_hub, grantee) == ["suspended", "suspended"]
    assert _share_states(documents_hub, grantee, state="active") == []
    # DTV reads case_info by the policy, not by a share: the documents themselves stay.
    assert _readable(documents_hub, "DTV", by_case)

    assert patch(documents_hub, grantor, {"enabled": True}).status_code == 200
    assert _listed(documents_hub, grantee, case) == {by_document, by_case}
    assert _readable(documents_hub, grantee, by_case)
    assert _share_states(documents_hub, grantee, state="active") == ["active", "active"]


def _share_states(documents_hub: DocumentHub, org: str, **params: str) -> list[str]:
    response = documents_hub.client.get(
        f"{API}/shares", params={"role": "received", **params}, headers=documents_hub.auth(org)
    )
    assert response.status_code == 200, response.text
    return [item["state"] for item in response.json()["items"]]


def test_a_share_to_a_disabled_organisation_is_refused_naming_it(
    documents_hub: DocumentHub,
) -> None:
    grantee = add_gemeente(documents_hub)
    assert patch(documents_hub, grantee, {"enabled": False}).status_code == 200
    since = head(documents_hub)
    response = documents_hub.share(
        "DTV", grantee=grantee, v_number=new_case(), document_types=["travel_document"]
    )
    assert response.status_code == 422
    assert response.json()["detail"] == f"organisation {grantee} is disabled"
    [event] = events(documents_hub, since, "share.")
    assert (event.outcome, event.detail) == ("invalid", "disabled grantee")
