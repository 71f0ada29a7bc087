"""Shares: granting, listing, reading and revoking, and every way a share is refused.

A share lets another organisation read one document, or a case's documents of given types, for
a purpose and until an expiry within the policy's maximum (DESIGN.md, "Share" and "The demo
policy"). Expired and revoked shares grant nothing from that instant. Every refusal answers a
problem document and leaves an audit event saying who was refused what, and why.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import count
from typing import Any, Final

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from audit.models import AuditEvent
from hub.tables.shares import Share
from tests.fixtures.documents import API, DocumentHub, pdf

_cases = count(4000000001)


def new_case() -> str:
    """A v-number no other test uses, so that tests sharing a hub do not meet."""
    return str(next(_cases))


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    """One hub per backend for this module (see ``module_documents_hub``)."""
    return module_documents_hub


# -- helpers -----------------------------------------------------------------------------------


def head(documents_hub: DocumentHub) -> int:
    with Session(documents_hub.hub.services.engine) as session:
        statement = select(AuditEvent.seq).order_by(col(AuditEvent.seq).desc()).limit(1)
        last = session.exec(statement).first()
        return -1 if last is None else last


def only_event(documents_hub: DocumentHub, since: int, action: str) -> AuditEvent:
    """The one event of ``action`` recorded after ``since`` (there must be exactly one)."""
    with Session(documents_hub.hub.services.engine) as session:
        statement = select(AuditEvent).where(
            col(AuditEvent.seq) > since, col(AuditEvent.action) == action
        )
        found = list(session.exec(statement).all())
    assert len(found) == 1, [(e.action, e.outcome) for e in found]
    return found[0]


def refused(
    documents_hub: DocumentHub,
    send: Callable[[], httpx.Response],
    *,
    status: int,
    action: str = "share.create",
    outcome: str,
    organisation: str,
) -> AuditEvent:
    """Send, expect a problem document with ``status``, and the one recorded refusal."""
    since = head(documents_hub)
    response = send()
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    event = only_event(documents_hub, since, action)
    assert (event.outcome, event.organisation) == (outcome, organisation)
    return event


def in_days(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def grants(documents_hub: DocumentHub, org: str, **params: str) -> list[dict[str, Any]]:
    response = documents_hub.client.get(
        f"{API}/shares", params={"limit": "500", **params}, headers=documents_hub.auth(org)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {item["id"] for item in items}


def visible(documents_hub: DocumentHub, org: str, document_id: str) -> int:
    return documents_hub.content(org, document_id).status_code


def case_share(documents_hub: DocumentHub, case: str, **kwargs: Any) -> str:
    kwargs.setdefault("document_types", ["travel_document"])
    response = documents_hub.share("DTV", grantee="GM0363", v_number=case, **kwargs)
    assert response.status_code == 201, response.text
    share_id: str = response.json()["id"]
    return share_id


def revoke(documents_hub: DocumentHub, org: str, share_id: str) -> httpx.Response:
    return documents_hub.client.delete(f"{API}/shares/{share_id}", headers=documents_hub.auth(org))


# -- granting, reading, revoking ---------------------------------------------------------------


def test_create_read_list_and_revoke_a_case_share(documents_hub: DocumentHub) -> None:
    case = new_case()
    document = documents_hub.uploaded("IOM", pdf(), v_number=case)["id"]
    until = in_days(30)
    created = documents_hub.share(
        "DTV",
        grantee="GM0363",
        v_number=case,
        document_types=["travel_document"],
        purpose="opvang",
        expires_at=until,
    )
    assert created.status_code == 201, created.text
    share = created.json()
    assert created.headers["location"] == f"{API}/shares/{share['id']}"
    assert (share["grantor"], share["grantee"], share["purpose"]) == ("DTV", "GM0363", "opvang")
    assert (share["v_number"], share["document_types"]) == (case, ["travel_document"])
    assert share["document_id"] is None
    assert datetime.fromisoformat(share["expires_at"]) == until  # as asked, not rounded
    assert (share["state"], share["revoked_at"]) == ("active", None)
    assert {"seq", "leaf_hash", "note"} <= set(share["receipt"])
    assert visible(documents_hub, "GM0363", document) == 200

    for org in ("DTV", "GM0363"):
        read = documents_hub.client.get(
            f"{API}/shares/{share['id']}", headers=documents_hub.auth(org)
        )
        assert read.status_code == 200
        assert read.json()["state"] == "active"
    assert share["id"] in ids(grants(documents_hub, "DTV", role="granted", state="active"))
    assert share["id"] in ids(grants(documents_hub, "GM0363", role="received", state="active"))
    assert share["id"] not in ids(grants(documents_hub, "DTV", role="received"))
    assert share["id"] not in ids(grants(documents_hub, "GM0363", role="granted"))

    since = head(documents_hub)
    assert revoke(documents_hub, "DTV", share["id"]).status_code == 204
    event = only_event(documents_hub, since, "share.revoke")
    assert (event.outcome, event.organisation, event.resource_id) == ("success", "DTV", share["id"])
    after = documents_hub.client.get(
        f"{API}/shares/{share['id']}", headers=documents_hub.auth("GM0363")
    ).json()
    assert after["state"] == "revoked"
    assert after["revoked_at"] is not None
    assert share["id"] not in ids(grants(documents_hub, "GM0363", role="received", state="active"))
    assert share["id"] in ids(grants(documents_hub, "GM0363", role="received"))
    assert visible(documents_hub, "GM0363", document) == 404


def test_a_document_share_grants_that_document_only(documents_hub: DocumentHub) -> None:
    case = new_case()
    shared = documents_hub.uploaded("IOM", pdf(), v_number=case)["id"]
    other = documents_hub.uploaded("IOM", pdf(), v_number=case)["id"]
    created = documents_hub.share("DTV", grantee="GM0363", document_id=shared)
    assert created.status_code == 201, created.text
    assert (created.json()["document_id"], created.json()["v_number"]) == (shared, None)
    assert visible(documents_hub, "GM0363", shared) == 200
    assert visible(documents_hub, "GM0363", other) == 404


# -- expired and revoked shares grant nothing, at once -----------------------------------------


def shared_both_ways(documents_hub: DocumentHub) -> tuple[str, list[str], list[str]]:
    """A case share and a document share to GM0363, each of a document in a case of its own;
    returns the first case, the two documents and the two shares (both visible now)."""
    case = new_case()
    by_case = documents_hub.uploaded("IOM", pdf(), v_number=case)["id"]
    by_document = documents_hub.uploaded("KMAR", pdf(), v_number=new_case())["id"]
    shares = [
        case_share(documents_hub, case),
        documents_hub.share("DTV", grantee="GM0363", document_id=by_document).json()["id"],
    ]
    assert [visible(documents_hub, "GM0363", d) for d in (by_case, by_document)] == [200, 200]
    return case, [by_case, by_document], shares


def test_an_expired_share_grants_nothing_at_once(documents_hub: DocumentHub) -> None:
    """Both kinds of share; ``expires_at`` is moved into the past in the database, as the
    passing of time would (the services take no clock from outside)."""
    _, documents, shares = shared_both_ways(documents_hub)
    past = datetime.now(UTC) - timedelta(seconds=1)
    with documents_hub.hub.services.engine.begin() as connection:
        rows = col(Share.id).in_([uuid.UUID(s) for s in shares])
        connection.execute(update(Share).where(rows).values(expires_at=past))

    assert [visible(documents_hub, "GM0363", d) for d in documents] == [404, 404]
    listed = documents_hub.client.get(
        f"{API}/documents", params={"limit": 500}, headers=documents_hub.auth("GM0363")
    ).json()
    assert not set(documents) & ids(listed["items"])
    for share_id in shares:
        read = documents_hub.client.get(
            f"{API}/shares/{share_id}", headers=documents_hub.auth("DTV")
        )
        assert read.json()["state"] == "expired"
    assert not set(shares) & ids(grants(documents_hub, "GM0363", state="active"))


def test_a_revoked_share_grants_nothing_at_once(documents_hub: DocumentHub) -> None:
    case, documents, shares = shared_both_ways(documents_hub)
    for share_id in shares:
        assert revoke(documents_hub, "DTV", share_id).status_code == 204
    assert [visible(documents_hub, "GM0363", d) for d in documents] == [404, 404]
    search = documents_hub.client.post(
        f"{API}/documents/search", json={"v_number": case}, headers=documents_hub.auth("GM0363")
    )
    assert search.json()["items"] == []


# -- durations ---------------------------------------------------------------------------------

MAXIMA: Final = {"decision": 30, "travel_document": 90}


@pytest.mark.parametrize(("document_type", "days"), MAXIMA.items())
def test_a_share_beyond_the_maximum_duration_is_refused_not_shortened(
    documents_hub: DocumentHub, document_type: str, days: int
) -> None:
    case = new_case()
    event = refused(
        documents_hub,
        lambda: documents_hub.share(
            "DTV", grantee="GM0363", v_number=case, document_types=[document_type], days=days + 1
        ),
        status=422,
        outcome="invalid",
        organisation="DTV",
    )
    assert event.detail == "beyond maximum duration"
    assert not any(s.get("v_number") == case for s in grants(documents_hub, "DTV"))
    # Just inside the maximum, granted with exactly the expiry asked for.
    until = in_days(days) - timedelta(minutes=1)
    within = documents_hub.share(
        "DTV", grantee="GM0363", v_number=case, document_types=[document_type], expires_at=until
    )
    assert within.status_code == 201, within.text
    assert datetime.fromisoformat(within.json()["expires_at"]) == until


def test_with_several_types_the_strictest_maximum_applies(documents_hub: DocumentHub) -> None:
    case = new_case()
    both = ["travel_document", "decision"]
    refused(
        documents_hub,
        lambda: documents_hub.share(
            "DTV", grantee="GM0363", v_number=case, document_types=both, days=31
        ),
        status=422,
        outcome="invalid",
        organisation="DTV",
    )
    within = documents_hub.share(
        "DTV", grantee="GM0363", v_number=case, document_types=both, days=29
    )
    assert within.status_code == 201, within.text


def test_an_expiry_in_the_past_is_refused(documents_hub: DocumentHub) -> None:
    event = refused(
        documents_hub,
        lambda: documents_hub.share(
            "DTV",
            grantee="GM0363",
            v_number=new_case(),
            document_types=["travel_document"],
            days=-1,
        ),
        status=422,
        outcome="invalid",
        organisation="DTV",
    )
    assert event.detail == "expiry in the past"


# -- who, to whom, why -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"grantee": "GM9999"}, "unknown grantee"),
        ({"grantee": "DTV"}, "share to self"),
        ({"purpose": "nieuwsgierigheid"}, "unknown purpose"),
        ({"document_types": ["paspoort"]}, "unknown type"),
    ],
    ids=["unknown-grantee", "share-to-self", "unknown-purpose", "unknown-type"],
)
def test_an_unknown_grantee_purpose_or_type_or_sharing_with_oneself_is_refused(
    documents_hub: DocumentHub, change: dict[str, str], detail: str
) -> None:
    body = {
        "grantee": "GM0363",
        "v_number": new_case(),
        "document_types": ["travel_document"],
        "purpose": "terugkeer",
        "expires_at": in_days(7).isoformat(),
        **change,
    }
    event = refused(
        documents_hub,
        lambda: documents_hub.client.post(
            f"{API}/shares", json=body, headers=documents_hub.auth("DTV")
        ),
        status=422,
        outcome="invalid",
        organisation="DTV",
    )
    assert event.detail == detail


def test_the_grantee_may_not_revoke(documents_hub: DocumentHub) -> None:
    case = new_case()
    document = documents_hub.uploaded("IOM", pdf(), v_number=case)["id"]
    share_id = case_share(documents_hub, case)
    refused(
        documents_hub,
        lambda: revoke(documents_hub, "GM0363", share_id),
        status=403,
        action="share.revoke",
        outcome="denied",
        organisation="GM0363",
    )
    assert visible(documents_hub, "GM0363", document) == 200


def test_a_third_party_cannot_see_a_share(documents_hub: DocumentHub) -> None:
    """Neither grantor nor grantee: 404 for reading and revoking, as for a share that never
    existed; the share stays in force."""
    case = new_case()
    document = documents_hub.uploaded("IOM", pdf(), v_number=case)["id"]
    share_id = case_share(documents_hub, case)
    buza = documents_hub.auth("BUZA")
    for target in (share_id, str(uuid.uuid4())):
        refused(
            documents_hub,
            partial(documents_hub.client.get, f"{API}/shares/{target}", headers=buza),
            status=404,
            action="share.read",
            outcome="not_found",
            organisation="BUZA",
        )
        refused(
            documents_hub,
            partial(revoke, documents_hub, "BUZA", target),
            status=404,
            action="share.revoke",
            outcome="not_found",
            organisation="BUZA",
        )
    assert share_id not in ids(grants(documents_hub, "BUZA"))
    assert visible(documents_hub, "GM0363", document) == 200


def test_sharing_needs_the_shares_write_scope(documents_hub: DocumentHub) -> None:
    document = documents_hub.uploaded("IOM", pdf(), v_number=new_case())["id"]
    body = {
        "grantee": "GM0363",
        "document_id": document,
        "purpose": "terugkeer",
        "expires_at": in_days(7).isoformat(),
    }
    headers = documents_hub.auth("DTV", "documents:read documents:write")
    since = head(documents_hub)
    response = documents_hub.client.post(f"{API}/shares", json=body, headers=headers)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="shares:write"' in response.headers["www-authenticate"]
    event = only_event(documents_hub, since, "share.create")
    assert (event.outcome, event.organisation, event.detail) == (
        "denied",
        "DTV",
        "insufficient_scope",
    )
    assert visible(documents_hub, "GM0363", document) == 404


def test_sharing_a_document_the_grantor_cannot_see_is_404(documents_hub: DocumentHub) -> None:
    """GM0344 cannot see IOM's travel document: sharing it answers as for a missing one."""
    document = documents_hub.uploaded("IOM", pdf(), v_number=new_case())["id"]
    answers = []
    for target in (document, str(uuid.uuid4())):
        since = head(documents_hub)
        answers.append(documents_hub.share("GM0344", grantee="GM0363", document_id=target))
        event = only_event(documents_hub, since, "share.create")
        assert (event.outcome, event.organisation, event.resource_id) == (
            "not_found",
            "GM0344",
            target,
        )
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json() == answers[1].json()
    assert visible(documents_hub, "GM0363", document) == 404


def test_a_gemeente_shares_its_own_case_info(documents_hub: DocumentHub) -> None:
    """The uploader rule: GM0363 shares what it uploaded, one document or its case, and its
    case share does not reach GM0344's case information in the same case."""
    case = new_case()
    own = documents_hub.uploaded("GM0363", pdf(), document_type="case_info", v_number=case)["id"]
    other = documents_hub.uploaded("GM0344", pdf(), document_type="case_info", v_number=case)["id"]
    assert visible(documents_hub, "COA", own) == 404
    single = documents_hub.share("GM0363", grantee="COA", document_id=own, purpose="opvang")
    assert single.status_code == 201, single.text
    assert visible(documents_hub, "COA", own) == 200

    whole = documents_hub.share(
        "GM0363", grantee="NIDOS", v_number=case, document_types=["case_info"], purpose="voogdij"
    )
    assert whole.status_code == 201, whole.text
    assert visible(documents_hub, "NIDOS", own) == 200
    assert visible(documents_hub, "NIDOS", other) == 404


def test_coa_may_read_a_decision_but_not_share_it(documents_hub: DocumentHub) -> None:
    case = new_case()
    decision = documents_hub.uploaded("IND", pdf(), document_type="decision", v_number=case)["id"]
    assert visible(documents_hub, "COA", decision) == 200
    event = refused(
        documents_hub,
        lambda: documents_hub.share("COA", grantee="GM0363", document_id=decision),
        status=403,
        outcome="denied",
        organisation="COA",
    )
    assert event.policy_rule == "default-deny"
    refused(
        documents_hub,
        lambda: documents_hub.share(
            "COA", grantee="GM0363", v_number=case, document_types=["decision"]
        ),
        status=403,
        outcome="denied",
        organisation="COA",
    )
    assert visible(documents_hub, "GM0363", decision) == 404
