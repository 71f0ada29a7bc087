"""Who may see what (:mod:`hub.access`): lists show exactly what reads allow.

The property test draws a random world (a policy written as YAML and read by the hub's loader,
organisations of every kind with some disabled, documents of several types and uploaders, some
deleted and some of a type the policy no longer knows, and shares in every state) and checks,
for every organisation, that a document is in its list (the SQL filter, through the documents
repository), and in its search by case, if and only if the rule for one document allows
reading it, that :func:`~hub.access.rule.resolve_visible` finds exactly those, and that
:func:`~hub.access.listing.granting_shares` names exactly the (share, document) pairs the rule's
loop over covering shares would grant. It runs on SQLite and PostgreSQL.

The regression tests go through the API: a document shared to a gemeente leaves both its list
and its reads when a policy reload takes the right to receive from the gemeente or the right to
share from the grantor, and when the grantor organisation is disabled; disabling the client that
made the share changes nothing, since shares belong to the organisation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy import event as sa_event
from sqlmodel import Session

from hub.access import repository
from hub.access.listing import granting_shares
from hub.access.rule import read_access, resolve_visible
from hub.clients.service import disable_client
from hub.core import db
from hub.documents import repository as documents
from hub.documents.repository import DocumentFilter
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN
from hub.rules import demo_policy_bytes
from hub.rules.loader import load_policy
from hub.rules.model import NOBODY, Grantees, Party, Policy, PolicyAction
from hub.runtime import activate_policy
from hub.tables.documents import Document
from hub.tables.organisations import Organisation, OrganisationKind
from hub.tables.shares import Share, ShareType
from hub.trail.context import Context
from tests.fixtures.databases import PostgresDatabases
from tests.fixtures.documents import API, DocumentHub, pdf

# -- the property ------------------------------------------------------------------------------

CODES: Final = ("OA", "OB", "OC", "OD", "OE", "OF")
TYPES: Final = ("alpha", "beta", "gamma")
GONE: Final = "delta"
"""A type documents were uploaded as, that the policy no longer names."""
CASES: Final = ("case-1", "case-2")
KINDS: Final = tuple(k.value for k in OrganisationKind)
NOW: Final = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


class State(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Org:
    code: str
    kind: str
    enabled: bool


@dataclass(frozen=True)
class Doc:
    document_type: str
    uploader: str
    case: str
    deleted: bool


@dataclass(frozen=True)
class Grant:
    grantor: str
    grantee: str
    state: State
    document: int | None
    """Index of the shared document; ``None`` for a case share."""
    case: str
    reach: tuple[tuple[str, bool], ...]
    """A case share's types, each with ``own_only``."""


@dataclass(frozen=True)
class World:
    organisations: tuple[Org, ...]
    policy_yaml: str
    documents: tuple[Doc, ...]
    grants: tuple[Grant, ...]


def _subjects(
    orgs: Sequence[Org], *, uploader: bool, may_be_empty: bool
) -> st.SearchStrategy[list[str]]:
    """A list as the loader accepts it: ``any`` alone, or kinds, codes not covered by a listed
    kind, and (where the list allows it) ``uploader``. Narrow lists are drawn more often than
    ``any``, so that shares, not the policy alone, decide many reads."""
    kind_of = {o.code: o.kind for o in orgs}

    def build(kinds: set[str], codes: set[str], with_uploader: bool) -> list[str]:
        return [
            *sorted(kinds),
            *sorted(c for c in codes if kind_of[c] not in kinds),
            *(["uploader"] if with_uploader else []),
        ]

    listed = st.builds(
        build,
        st.sets(st.sampled_from(KINDS), max_size=1),
        st.sets(st.sampled_from(CODES), max_size=2),
        st.booleans() if uploader else st.just(False),
    )
    options = [st.just(["any"]), listed, listed]
    if uploader:
        options.append(st.just(["uploader"]))
    if may_be_empty:
        return st.one_of(st.just([]), st.just([]), *options)
    return st.one_of(options).map(lambda subjects: subjects or ["any"])


def _yaml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(items) + "]"


def _policy_yaml(draw: st.DrawFn, orgs: Sequence[Org]) -> str:
    lines = ['version: "random"', "purposes:", "  terugkeer: departure", "document_types:"]
    for name in TYPES:
        read = draw(_subjects(orgs, uploader=True, may_be_empty=True))
        share = draw(_subjects(orgs, uploader=True, may_be_empty=True))
        lines += [
            f"  {name}:",
            "    content_types: [application/pdf]",
            "    max_size: 1 MiB",
            "    retention: 1 years",
            "    upload: [any]",
            f"    read: {_yaml_list(read)}",
            f"    share: {_yaml_list(share)}",
            "    delete: []",
        ]
        if share:
            share_to = draw(_subjects(orgs, uploader=False, may_be_empty=False))
            lines += [f"    share_to: {_yaml_list(share_to)}", "    max_share_duration: 90 days"]
    return "\n".join(lines) + "\n"


def _grant(draw: st.DrawFn, docs: Sequence[Doc]) -> Grant:
    """A share in any state; its grantor is often the uploader of a document it may reach, so
    that ``uploader`` entries and ``own_only`` reaches are exercised."""
    target = draw(st.one_of(st.none(), st.integers(0, len(docs) - 1)))
    near = docs[target] if target is not None else draw(st.sampled_from(docs))
    grantor = draw(st.one_of(st.just(near.uploader), st.sampled_from(CODES)))
    # A case share mostly reaches the type of the document it was drawn near.
    first = draw(st.sampled_from((near.document_type, near.document_type, *TYPES, GONE)))
    reach = [(first, draw(st.booleans()))]
    reach += [
        (name, draw(st.booleans()))
        for name in draw(st.sets(st.sampled_from((*TYPES, GONE)), max_size=2))
        if name != first
    ]
    return Grant(
        grantor=grantor,
        grantee=draw(st.sampled_from(CODES)),
        state=draw(st.sampled_from((State.ACTIVE, State.ACTIVE, State.REVOKED, State.EXPIRED))),
        document=target,
        case=near.case,
        reach=tuple(reach),
    )


@st.composite
def worlds(draw: st.DrawFn) -> World:
    orgs = tuple(
        Org(code, draw(st.sampled_from(KINDS)), draw(st.sampled_from((True, True, True, False))))
        for code in CODES
    )
    document = st.builds(
        Doc,
        st.sampled_from((*TYPES, GONE)),
        st.sampled_from(CODES),
        st.sampled_from(CASES),
        st.sampled_from((False, False, False, True)),
    )
    docs = tuple(draw(st.lists(document, min_size=1, max_size=10)))
    grants = tuple(_grant(draw, docs) for _ in range(draw(st.integers(0, 14))))
    return World(orgs, _policy_yaml(draw, orgs), docs, grants)


def _store(session: Session, world: World) -> list[Document]:
    for org in world.organisations:
        session.add(Organisation(code=org.code, name=org.code, kind=org.kind, enabled=org.enabled))
    session.flush()
    rows = []
    for i, doc in enumerate(world.documents):
        row = Document(
            document_type=doc.document_type,
            uploader=doc.uploader,
            uploaded_by="test",
            v_index=doc.case,
            v_number_sealed=None if doc.deleted else b"sealed",
            content_type="application/pdf",
            size=1,
            sha256="0" * 64,
            created_at=NOW - timedelta(minutes=i),
            retain_until=NOW + timedelta(days=365),
            deleted_at=NOW - timedelta(days=1) if doc.deleted else None,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    for i, grant in enumerate(world.grants):
        share = Share(
            grantor=grant.grantor,
            grantee=grant.grantee,
            document_id=rows[grant.document].id if grant.document is not None else None,
            v_index=grant.case if grant.document is None else None,
            v_number_sealed=b"sealed" if grant.document is None else None,
            purpose="terugkeer",
            created_by="test",
            created_at=NOW - timedelta(days=2, minutes=i),
            expires_at=NOW + timedelta(days=-1 if grant.state is State.EXPIRED else 30),
            revoked_at=NOW - timedelta(hours=1) if grant.state is State.REVOKED else None,
        )
        session.add(share)
        session.flush()
        if grant.document is None:
            for name, own_only in grant.reach:
                session.add(ShareType(share_id=share.id, document_type=name, own_only=own_only))
    session.flush()
    return rows


def _bucket(count: int) -> str:
    return "none" if count == 0 else "1-3" if count <= 3 else "4+"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """One migrated database per backend for the whole property test; each example works in a
    transaction that is rolled back."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('access') / 'ketenhub.db'}"
    else:
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        url = databases.create()
    engine = db.make_engine(url)
    db.migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=worlds())
def test_a_list_shows_exactly_what_reads_allow(engine: Engine, world: World) -> None:
    kinds = {o.code: OrganisationKind(o.kind) for o in world.organisations}
    policy: Policy = load_policy(world.policy_yaml, source="random", organisations=kinds)
    with Session(engine, expire_on_commit=False) as session:
        try:
            rows = _store(session, world)
            granted_by_share = withheld_by_policy = 0
            for org in world.organisations:
                party = Party(org.code, kinds[org.code])
                listed = documents.visible_page(
                    session,
                    policy=policy,
                    party=party,
                    where=DocumentFilter(),
                    now=NOW,
                    after=None,
                    limit=len(rows) + 1,
                )
                reads = {
                    row.id: read_access(session, policy=policy, party=party, document=row, now=NOW)
                    for row in rows
                }
                allowed = {i for i, access in reads.items() if access.allowed}
                assert {row.id for row in listed} == allowed, (org, reads)
                for case in CASES:  # a search by case is the list, cut to the case
                    found = documents.visible_page(
                        session,
                        policy=policy,
                        party=party,
                        where=DocumentFilter(v_index=case),
                        now=NOW,
                        after=None,
                        limit=len(rows) + 1,
                    )
                    in_case = {row.id for row in rows if row.v_index == case}
                    assert {row.id for row in found} == allowed & in_case
                for row in rows:
                    if reads[row.id].share_id is not None:
                        granted_by_share += 1
                    elif repository.covering_shares(
                        session, grantee=org.code, document=row, now=NOW
                    ):
                        # Only the policy in force keeps this one out of the list.
                        withheld_by_policy += 1
                assert _granting_pairs(session, policy, party) == _pairs_by_rule(
                    session, policy, party, rows
                ), org
                for row in rows:
                    resolved = resolve_visible(
                        session, policy=policy, party=party, document_id=row.id, now=NOW
                    )
                    assert (resolved.document is not None) == (row.id in allowed)
                    assert (resolved.hidden is not None) == (row.id not in allowed)
                missing = resolve_visible(
                    session, policy=policy, party=party, document_id=uuid.uuid4(), now=NOW
                )
                assert (missing.document, missing.hidden, missing.access.allowed) == (
                    None,
                    None,
                    False,
                )
            event(f"reads granted by a share: {_bucket(granted_by_share)}")
            event(f"active shares the policy withholds: {_bucket(withheld_by_policy)}")
        finally:
            session.rollback()


def _granting_pairs(session: Session, policy: Policy, party: Party) -> set[tuple[Any, Any]]:
    """(share, document) pairs by the per-share SQL form of the rule."""
    statement = granting_shares(policy, party, NOW)
    if statement is None:
        return set()
    return {(share_id, document_id) for share_id, document_id in session.execute(statement)}


def _pairs_by_rule(
    session: Session, policy: Policy, party: Party, rows: Sequence[Document]
) -> set[tuple[Any, Any]]:
    """The same pairs by the rule's own loop (:func:`~hub.access.rule.read_access`): each
    active covering share of a live document whose type the party may receive and whose grantor
    may share it."""
    pairs = set()
    for row in rows:
        if row.deleted_at is not None or not policy.may_receive(party, row.document_type).allowed:
            continue
        for share, kind in repository.covering_shares(
            session, grantee=party.code, document=row, now=NOW
        ):
            grantor = Party(share.grantor, kind)
            if policy.decide(
                grantor, PolicyAction.SHARE, row.document_type, uploader=row.uploader
            ).allowed:
                pairs.add((share.id, row.id))
    return pairs


def test_grantees_name_whom_a_list_grants_as_decide_does() -> None:
    """The demo policy's lists, as the list filter compiles them."""
    kinds = {s.code: OrganisationKind(s.kind) for s in CHAIN + DEMO_GEMEENTEN}
    policy = load_policy(demo_policy_bytes(), source="demo", organisations=kinds)
    nobody, share, read = frozenset(), PolicyAction.SHARE, PolicyAction.READ
    assert policy.grantees("travel_document", share) == Grantees(
        frozenset({"DTV"}), nobody, anyone=False, uploader=True
    )
    assert policy.grantees("decision", share) == Grantees(
        frozenset({"DTV", "IND"}), nobody, anyone=False, uploader=False
    )
    assert policy.grantees("case_info", PolicyAction.UPLOAD) == Grantees(
        frozenset({"DTV", "COA", "IND"}), frozenset({"gemeente"}), anyone=False, uploader=False
    )
    assert policy.grantees("decision", PolicyAction.RECEIVE).anyone
    # Reading: every uploader reads its own, by the built-in rule.
    assert policy.grantees("decision", read).uploader
    assert policy.grantees("passport", read) == NOBODY


# -- the regression, through the API -----------------------------------------------------------

_DEMO_TRAVEL, _DEMO_REST = demo_policy_bytes().decode().split("  decision:", 1)


def _reload(documents_hub: DocumentHub, travel_document: str) -> None:
    """Install the demo policy with its ``travel_document`` section edited, and load it the
    way the hub does (the new policy is in force at once, and recorded)."""
    services = documents_hub.hub.services
    text = travel_document + "  decision:" + _DEMO_REST
    services.settings.resolved_policy_file.write_text(text, encoding="utf-8")
    policy = activate_policy(services, Context.operator())
    assert services.policy is policy


def _edited(old: str, new: str) -> str:
    assert _DEMO_TRAVEL.count(old) == 1, old
    return _DEMO_TRAVEL.replace(old, new)


def _listed(documents_hub: DocumentHub, org: str) -> dict[str, Any]:
    """The caller's list, by document id, with each item as answered (v-number included)."""
    response = documents_hub.client.get(
        f"{API}/documents", params={"limit": "500"}, headers=documents_hub.auth(org)
    )
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["items"]}


def _status(documents_hub: DocumentHub, org: str, document_id: str) -> tuple[int, int]:
    """The status of a metadata read and of a download."""
    metadata = documents_hub.client.get(
        f"{API}/documents/{document_id}", headers=documents_hub.auth(org)
    )
    return metadata.status_code, documents_hub.content(org, document_id).status_code


def _shared_with_gemeente(documents_hub: DocumentHub, v_number: str) -> str:
    """A travel document IOM uploaded and shared (as its uploader) with GM0363, who lists and
    reads it."""
    document_id: str = documents_hub.uploaded("IOM", pdf(seed=7), v_number=v_number)["id"]
    assert documents_hub.share("IOM", grantee="GM0363", document_id=document_id).status_code == 201
    listed = _listed(documents_hub, "GM0363")
    assert listed[document_id]["v_number"] == v_number
    assert _status(documents_hub, "GM0363", document_id) == (200, 200)
    return document_id


POLICY_CHANGES: Final = {
    "the gemeente may no longer receive the type": (
        "    share_to: [any]\n",
        "    share_to: [rijk, internationaal]\n",
    ),
    "the grantor may no longer share the type": (
        "    share: [DTV, uploader]\n",
        "    share: [DTV]\n",
    ),
}


@pytest.mark.parametrize("change", list(POLICY_CHANGES))
def test_a_policy_reload_takes_a_shared_document_out_of_the_list_and_the_reads(
    documents_hub: DocumentHub, change: str
) -> None:
    document_id = _shared_with_gemeente(documents_hub, "4200000001")

    _reload(documents_hub, _edited(*POLICY_CHANGES[change]))
    assert document_id not in _listed(documents_hub, "GM0363")
    assert _status(documents_hub, "GM0363", document_id) == (404, 404)
    # The uploader still reads its own; nothing else changed.
    assert document_id in _listed(documents_hub, "IOM")

    _reload(documents_hub, _DEMO_TRAVEL)
    assert document_id in _listed(documents_hub, "GM0363")
    assert _status(documents_hub, "GM0363", document_id) == (200, 200)


def test_shares_belong_to_the_granting_organisation_not_its_client(
    documents_hub: DocumentHub,
) -> None:
    document_id = _shared_with_gemeente(documents_hub, "4200000002")
    [sharing_client] = [
        c.client_id for c in documents_hub.hub.clients.values() if c.organisation == "IOM"
    ]
    with db.transaction(documents_hub.hub.services.engine) as session:
        disable_client(session, sharing_client)
    assert document_id in _listed(documents_hub, "GM0363")
    assert _status(documents_hub, "GM0363", document_id) == (200, 200)

    admin = documents_hub.auth("DTV", "admin")
    patch = documents_hub.client.patch(
        f"{API}/organisations/IOM", json={"enabled": False}, headers=admin
    )
    assert patch.status_code == 200, patch.text
    assert document_id not in _listed(documents_hub, "GM0363")
    assert _status(documents_hub, "GM0363", document_id) == (404, 404)


def test_a_missing_and_a_hidden_document_are_refused_alike_by_shares_and_explain(
    documents_hub: DocumentHub,
) -> None:
    """The shares service and policy explain find documents through ``resolve_visible`` too."""
    hidden: str = documents_hub.uploaded("IOM", pdf(seed=8), v_number="4200000003")["id"]
    answers = []
    for document_id in (hidden, str(uuid.uuid4())):
        share = documents_hub.share("GM0363", grantee="GM0344", document_id=document_id)
        explain = documents_hub.client.post(
            f"{API}/policy/explain",
            json={"organisation": "GM0363", "action": "read", "document_id": document_id},
            headers=documents_hub.auth("GM0363"),
        )
        answers.append(
            [(r.status_code, r.json()["detail"], r.json()["title"]) for r in (share, explain)]
        )
    assert answers[0] == answers[1]
    assert answers[0][0][0] == answers[0][1][0] == 404


def _statements(engine: Engine, send: Any) -> list[str]:
    """The SQL statements (text, not parameters) that ``send()`` runs, in order, but those of
    appending to the audit log: how many tree nodes an append completes depends on the event's
    ``seq`` (RFC 9162), not on the request."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        text = " ".join(str(args[2]).split())
        if "audit_" not in text and "SAVEPOINT" not in text:
            seen.append(text)

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        send()
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    return seen


def test_shares_and_explain_run_the_same_statements_for_a_missing_and_a_hidden_document(
    documents_hub: DocumentHub,
) -> None:
    """The timing oracle of issue 11: POST /shares and POST /policy/explain must do the same
    database work for an id that does not exist as for a document the caller may not see,
    statement by statement, so their time cannot tell the two apart."""
    hidden: str = documents_hub.uploaded("IOM", pdf(seed=9), v_number="4200000004")["id"]
    engine = documents_hub.hub.services.engine
    headers = documents_hub.auth("GM0363")

    def share(document_id: str) -> None:
        answer = documents_hub.share("GM0363", grantee="GM0344", document_id=document_id)
        assert answer.status_code == 404, answer.text

    def explain(document_id: str) -> None:
        answer = documents_hub.client.post(
            f"{API}/policy/explain",
            json={"organisation": "GM0363", "action": "read", "document_id": document_id},
            headers=headers,
        )
        assert answer.status_code == 404, answer.text

    for send in (share, explain):
        send(hidden), send(str(uuid.uuid4()))  # warm: tokens, caches
        ran = {
            name: _statements(engine, lambda d=document_id, s=send: s(d))
            for name, document_id in (("hidden", hidden), ("missing", str(uuid.uuid4())))
        }
        assert ran["hidden"] == ran["missing"], send.__name__
        assert any("FROM document" in statement for statement in ran["hidden"])
