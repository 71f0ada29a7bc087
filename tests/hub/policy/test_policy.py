"""The demo policy's decisions, and the policy API.

The expected decisions are written out below from DESIGN.md's table by hand, not derived from
the policy: ``GRANTED`` says who each list grants regardless of the document (and through which
subject), ``OWN`` which lists also grant an organisation its own uploads. Every organisation x
action x type x uploader (none, itself, another) is checked against them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from audit.events import Action
from audit.models import AuditEvent
from hub.directory.organisations import OrganisationDirectory
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN
from hub.policy.endpoints import router
from hub.rules import Party, Policy, PolicyAction, ShareScope, load_policy_file
from hub.tables.organisations import OrganisationKind
from hub.trail.auditor import Auditor
from hub.web.error_handlers import install_handlers
from tests.fixtures.oauth import ISSUER, Hub

ORGANISATIONS = {seed.code: seed.kind for seed in CHAIN + DEMO_GEMEENTEN}
DEMO_FILE = Path(__file__).parents[3] / "hub" / "rules" / "demo.yaml"
TYPES = ("travel_document", "decision", "case_info")
EVERYONE = tuple(ORGANISATIONS)

# (type, action) -> {organisation: the subject of the entry that grants it}, for any document.
GRANTED: dict[tuple[str, str], dict[str, str]] = {
    ("travel_document", "upload"): {"IOM": "IOM", "DTV": "DTV", "KMAR": "KMAR", "IND": "IND"},
    ("travel_document", "read"): {"DTV": "DTV", "KMAR": "KMAR", "IND": "IND"},
    ("travel_document", "share"): {"DTV": "DTV"},
    ("travel_document", "delete"): {"DTV": "DTV"},
    ("travel_document", "receive"): dict.fromkeys(EVERYONE, "any"),
    ("decision", "upload"): {"IND": "IND", "DTV": "DTV"},
    ("decision", "read"): {"IND": "IND", "DTV": "DTV", "COA": "COA"},
    ("decision", "share"): {"DTV": "DTV", "IND": "IND"},
    ("decision", "delete"): {"DTV": "DTV"},
    ("decision", "receive"): dict.fromkeys(EVERYONE, "any"),
    ("case_info", "upload"): {
        "DTV": "DTV",
        "COA": "COA",
        "IND": "IND",
        "GM0363": "gemeente",
        "GM0344": "gemeente",
    },
    ("case_info", "read"): {"DTV": "DTV"},
    ("case_info", "share"): {"DTV": "DTV"},
    ("case_info", "delete"): {"DTV": "DTV"},
    ("case_info", "receive"): dict.fromkeys(EVERYONE, "any"),
}

# (type, action) -> the rule that lets an organisation act on a document it uploaded itself.
OWN: dict[tuple[str, str], str] = {
    ("travel_document", "read"): "travel_document.read[uploader]",
    ("travel_document", "share"): "travel_document.share[uploader]",
    ("travel_document", "delete"): "travel_document.delete[uploader]",
    ("decision", "read"): "uploader-reads-own",  # not in the file's list: the built-in rule
    ("decision", "delete"): "decision.delete[uploader]",
    ("case_info", "read"): "case_info.read[uploader]",
    ("case_info", "share"): "case_info.share[uploader]",
    ("case_info", "delete"): "case_info.delete[uploader]",
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy_file(DEMO_FILE, organisations=ORGANISATIONS)


def party(code: str) -> Party:
    return Party(code, ORGANISATIONS[code])


def _expected(code: str, action: str, type_: str, uploader: str | None) -> tuple[bool, str]:
    list_name = "share_to" if action == "receive" else action
    subject = GRANTED[(type_, action)].get(code)
    if subject is not None:
        return True, f"{type_}.{list_name}[{subject}]"
    if uploader == code and (type_, action) in OWN:
        return True, OWN[(type_, action)]
    return False, "default-deny"


CASES = [
    (code, action, type_, whose)
    for code in EVERYONE
    for action in ("upload", "read", "share", "delete", "receive")
    for type_ in TYPES
    for whose in ("none", "own", "other")
]


@pytest.mark.parametrize(("code", "action", "type_", "whose"), CASES)
def test_demo_policy_decision(
    policy: Policy, code: str, action: str, type_: str, whose: str
) -> None:
    uploader = {"none": None, "own": code, "other": "DTV" if code != "DTV" else "IND"}[whose]
    decision = policy.decide(party(code), PolicyAction(action), type_, uploader=uploader)
    assert (decision.allowed, decision.rule) == _expected(code, action, type_, uploader)


def test_iom_reads_its_own_travel_document_but_not_dtvs(policy: Policy) -> None:
    iom = party("IOM")
    own = policy.decide(iom, PolicyAction.READ, "travel_document", uploader="IOM")
    assert (own.allowed, own.rule) == (True, "travel_document.read[uploader]")
    assert not policy.decide(iom, PolicyAction.READ, "travel_document", uploader="DTV").allowed
    assert not policy.decide(iom, PolicyAction.READ, "travel_document").allowed


def test_a_gemeente_reads_its_own_case_info_only(policy: Policy) -> None:
    amsterdam = party("GM0363")
    assert policy.decide(amsterdam, PolicyAction.READ, "case_info", uploader="GM0363").allowed
    assert not policy.decide(amsterdam, PolicyAction.READ, "case_info", uploader="GM0344").allowed


def test_coa_reads_decisions(policy: Policy) -> None:
    decision = policy.decide(party("COA"), PolicyAction.READ, "decision", uploader="IND")
    assert (decision.allowed, decision.rule) == (True, "decision.read[COA]")


def test_dtv_is_credited_by_code_for_its_own_uploads(policy: Policy) -> None:
    decision = policy.decide(party("DTV"), PolicyAction.READ, "case_info", uploader="DTV")
    assert decision.rule == "case_info.read[DTV]"


@pytest.mark.parametrize("type_", TYPES)
def test_nobody_but_dtv_and_the_uploader_deletes(policy: Policy, type_: str) -> None:
    deleters = {
        code
        for code in EVERYONE
        if policy.decide(party(code), PolicyAction.DELETE, type_, uploader="GM0363").allowed
    }
    assert deleters == {"DTV", "GM0363"}


def test_an_unknown_document_type_is_denied_by_name(policy: Policy) -> None:
    for action in PolicyAction:
        decision = policy.decide(party("DTV"), action, "passport", uploader="DTV")
        assert (decision.allowed, decision.rule) == (False, "unknown-document-type")
    assert policy.document_type("passport") is None


def test_may_receive_is_share_to(policy: Policy) -> None:
    decision = policy.may_receive(party("NIDOS"), "decision")
    assert (decision.allowed, decision.rule) == (True, "decision.share_to[any]")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("DTV", {"travel_document", "decision", "case_info"}),
        ("IND", {"travel_document", "decision"}),
        ("KMAR", {"travel_document"}),
        ("COA", {"decision"}),
        ("IOM", set()),
        ("GM0363", set()),
        ("POLITIE", set()),
    ],
)
def test_readable_types(policy: Policy, code: str, expected: set[str]) -> None:
    assert policy.readable_types(party(code)) == expected


@pytest.mark.parametrize(
    ("code", "type_", "scope"),
    [
        ("DTV", "travel_document", ShareScope.ALL),
        ("DTV", "decision", ShareScope.ALL),
        ("DTV", "case_info", ShareScope.ALL),
        ("IND", "decision", ShareScope.ALL),
        ("IOM", "travel_document", ShareScope.OWN),
        ("IND", "travel_document", ShareScope.OWN),
        ("GM0363", "case_info", ShareScope.OWN),
        ("COA", "decision", ShareScope.NONE),
        ("DTV", "passport", ShareScope.NONE),
    ],
)
def test_share_scope(policy: Policy, code: str, type_: str, scope: ShareScope) -> None:
    assert policy.share_scope(party(code), type_) is scope


def test_the_strictest_share_duration_applies(policy: Policy) -> None:
    assert policy.max_share_duration({"travel_document", "decision"}) == timedelta(days=30)
    assert policy.max_share_duration(["travel_document", "case_info"]) == timedelta(days=90)


def test_share_duration_of_an_unknown_type_is_refused(policy: Policy) -> None:
    with pytest.raises(ValueError, match="unknown document type 'passport'"):
        policy.max_share_duration(["decision", "passport"])


def test_share_duration_of_no_types_is_refused(policy: Policy) -> None:
    with pytest.raises(ValueError, match="no document types"):
        policy.max_share_duration([])


# -- the API ---------------------------------------------------------------------------------


@dataclass
class _Services:
    """The part of the hub's services the policy endpoints use."""

    engine: Engine
    policy: Policy
    audit: Auditor
    organisations: OrganisationDirectory


@pytest.fixture
def api(hub: Hub, policy: Policy) -> Iterator[TestClient]:
    app = FastAPI()
    install_handlers(app)
    app.include_router(router)
    app.state.services = _Services(
        engine=hub.services.engine,
        policy=policy,
        audit=hub.services.audit,
        organisations=hub.services.organisations,
    )
    app.state.token_validator = hub.services.oauth.validator
    with TestClient(app, base_url=ISSUER, raise_server_exceptions=False) as client:
        yield client


def _bearer(hub: Hub, organisation: str, scopes: str = "documents:read") -> dict[str, str]:
    token = hub.token(hub.register(organisation=organisation, scopes=scopes))
    return {"Authorization": f"Bearer {token}"}


def _explain(api: TestClient, headers: dict[str, str], **question: Any) -> Any:
    return api.post("/api/v1/policy/explain", json=question, headers=headers)


def test_reading_the_policy_needs_a_token(api: TestClient) -> None:
    response = api.get("/api/v1/policy")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_any_caller_reads_the_policy(api: TestClient, hub: Hub) -> None:
    response = api.get("/api/v1/policy", headers=_bearer(hub, "GM0363"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == "demo-1"
    assert body["hash"] == "sha256:" + hashlib.sha256(DEMO_FILE.read_bytes()).hexdigest()
    assert set(body["purposes"]) == {"terugkeer", "opvang", "voogdij", "toezicht", "verantwoording"}
    types = {t["name"]: t for t in body["document_types"]}
    assert types["travel_document"]["max_size"] == 268_435_456
    assert types["case_info"]["max_size"] == 2_147_483_648
    assert types["decision"]["max_share_duration_days"] == 30
    assert types["decision"]["retention_days"] == 3650
    assert types["travel_document"]["read"] == ["DTV", "KMAR", "IND", "uploader"]
    assert types["case_info"]["upload"] == ["DTV", "COA", "IND", "gemeente"]
    assert types["case_info"]["share_to"] == ["any"]
    assert "uploader-reads-own" in body["built_in_rules"]


def test_explain_for_the_callers_own_organisation(api: TestClient, hub: Hub) -> None:
    headers = _bearer(hub, "GM0363")
    response = _explain(
        api, headers, organisation="GM0363", action="upload", document_type="case_info"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["allowed"], body["rule"]) == (True, "case_info.upload[gemeente]")
    assert (body["organisation"], body["action"], body["document_type"]) == (
        "GM0363",
        "upload",
        "case_info",
    )
    denied = _explain(
        api, headers, organisation="GM0363", action="read", document_type="travel_document"
    ).json()
    assert (denied["allowed"], denied["rule"]) == (False, "default-deny")


def _explained(hub: Hub) -> list[AuditEvent]:
    with Session(hub.services.engine) as session:
        query = select(AuditEvent).where(AuditEvent.action == Action.POLICY_EXPLAIN)
        return list(session.exec(query.order_by(col(AuditEvent.seq))))


def test_an_explanation_is_recorded_with_what_was_asked_and_the_rule(
    api: TestClient, hub: Hub
) -> None:
    headers = _bearer(hub, "GM0363")
    questions = (("upload", "case_info", "allowed"), ("read", "travel_document", "denied"))
    for action, document_type, allowed in questions:
        response = _explain(
            api, headers, organisation="GM0363", action=action, document_type=document_type
        )
        assert response.status_code == 200, response.text
        event = _explained(hub)[-1]
        assert (event.outcome, event.organisation) == ("success", "GM0363")
        assert (event.resource_type, event.resource_id) == ("organisation", "GM0363")
        assert event.policy_rule == response.json()["rule"]
        assert event.detail == f"for GM0363, {action}: {allowed}"


def test_a_refused_explanation_is_recorded_as_denied(api: TestClient, hub: Hub) -> None:
    response = _explain(
        api, _bearer(hub, "GM0363"), organisation="DTV", action="read", document_type="decision"
    )
    assert response.status_code == 403
    event = _explained(hub)[-1]
    assert (event.outcome, event.organisation, event.resource_id) == ("denied", "GM0363", "DTV")


def test_explain_with_an_uploader(api: TestClient, hub: Hub) -> None:
    body = _explain(
        api,
        _bearer(hub, "IOM"),
        organisation="IOM",
        action="read",
        document_type="travel_document",
        uploader="IOM",
    ).json()
    assert (body["allowed"], body["rule"]) == (True, "travel_document.read[uploader]")


def test_explain_for_another_organisation_is_forbidden(api: TestClient, hub: Hub) -> None:
    response = _explain(
        api, _bearer(hub, "GM0363"), organisation="DTV", action="read", document_type="decision"
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("scope", ["audit:read", "admin"])
def test_explain_for_another_organisation_with_scope(api: TestClient, hub: Hub, scope: str) -> None:
    response = _explain(
        api, _bearer(hub, "DTV", scope), organisation="COA", action="read", document_type="decision"
    )
    assert response.status_code == 200, response.text
    assert response.json()["rule"] == "decision.read[COA]"


def test_explain_for_an_unknown_organisation(api: TestClient, hub: Hub) -> None:
    response = _explain(
        api, _bearer(hub, "DTV", "admin"), organisation="GM9999", action="read", document_type="x"
    )
    assert response.status_code == 422
    assert "GM9999" in response.json()["detail"]


def test_explain_with_an_unknown_uploader(api: TestClient, hub: Hub) -> None:
    response = _explain(
        api,
        _bearer(hub, "IOM"),
        organisation="IOM",
        action="read",
        document_type="travel_document",
        uploader="XYZ",
    )
    assert response.status_code == 422


def test_explain_an_unknown_document_type(api: TestClient, hub: Hub) -> None:
    response = _explain(
        api, _bearer(hub, "DTV"), organisation="DTV", action="read", document_type="passport"
    )
    assert response.status_code == 200
    assert (response.json()["allowed"], response.json()["rule"]) == (
        False,
        "unknown-document-type",
    )


def test_explain_an_unknown_action(api: TestClient, hub: Hub) -> None:
    response = _explain(
        api, _bearer(hub, "DTV"), organisation="DTV", action="destroy", document_type="decision"
    )
    assert response.status_code == 422


def test_explain_needs_a_token(api: TestClient) -> None:
    response = api.post(
        "/api/v1/policy/explain",
        json={"organisation": "DTV", "action": "read", "document_type": "decision"},
    )
    assert response.status_code == 401


def test_a_party_code_must_be_an_organisation_code() -> None:
    """A party named like a subject keyword or a kind must not match that keyword's rules."""
    for code in ("any", "gemeente", "uploader", "dtv", ""):
        with pytest.raises(ValueError, match="not an organisation code"):
            Party(code, ORGANISATIONS["DTV"])


def test_a_party_kind_read_as_text_is_normalised() -> None:
    assert Party("GM0363", "gemeente").kind is OrganisationKind.GEMEENTE  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gemeenten"):
        Party("GM0363", "gemeenten")  # type: ignore[arg-type]
