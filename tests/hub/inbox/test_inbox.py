"""The inbox (:mod:`hub.inbox`): what shares made visible to an organisation, in order, with a
cursor; what a person has not seen since their previous visit; shares expiring within 7 days.

Shares and documents are made through the API by partner clients, as in production, on SQLite
with the filesystem store and on PostgreSQL with SeaweedFS; the inbox service is then built for
an organisation from the running hub's own parts, as a page request builds it. Tests share one
hub per backend, so each works in cases of its own and looks only at its own shares' items.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from sqlmodel import Session, col, select

from audit.events import Action
from audit.models import AuditEvent
from auth.tokens import Principal
from hub.core import db
from hub.core.errors import BadRequest
from hub.inbox.schemas import InboxItem, InboxItemKind, ShareSide
from hub.inbox.service import InboxDeps, InboxService
from hub.organisations.service import set_enabled
from hub.tables.organisations import Organisation
from hub.trail.context import Actor, Context
from hub.trail.recorder import Recorder
from hub.web.caller import caller_of
from hub.web.deps import RequestTransaction
from hub.web.recording import Call
from tests.fixtures.documents import API, DocumentHub, pdf

_cases = count(4300000001)


def new_case() -> str:
    """A v-number no other test uses, so that tests sharing a hub do not meet."""
    return str(next(_cases))


@pytest.fixture(scope="module")
def documents_hub(module_documents_hub: DocumentHub) -> DocumentHub:
    return module_documents_hub


@contextmanager
def inbox(
    documents_hub: DocumentHub, organisation: str, *, now: datetime | None = None
) -> Iterator[InboxService]:
    """The inbox service of ``organisation`` in one committed transaction, as a page request of
    a caseworker of that organisation gets it (a person's token through the web client)."""
    services = documents_hub.hub.services
    moment = now or datetime.now(UTC)
    principal = Principal(
        client_id="ketenhub-web",
        organisation=organisation,
        scopes=frozenset(),
        processing_activity=None,
        issuer="https://hub.test",
        token_id=str(uuid.uuid4()),
        expires_at=moment + timedelta(minutes=5),
        user_id=str(uuid.uuid4()),
        username=f"{organisation.lower()}.medewerker",
    )
    context = Context.new(source_address="127.0.0.1")
    with Session(services.engine, expire_on_commit=False) as session:
        transaction = RequestTransaction(session)
        call = Call(
            transaction,
            caller_of(principal, services.organisations, context),
            Recorder(services.audit, context, Actor.of(principal)),
            moment,
        )
        yield InboxService(call, InboxDeps(services.policy, services.protector))
        transaction.commit()


def read_all(
    documents_hub: DocumentHub, organisation: str, *, limit: int = 100, **kwargs: Any
) -> tuple[list[InboxItem], str]:
    """The organisation's whole feed, page by page until a short page, and the cursor to
    resume from."""
    items: list[InboxItem] = []
    cursor = None
    while True:
        with inbox(documents_hub, organisation, **kwargs) as service:
            page = service.items(cursor, limit)
        items += page.items
        assert page.next_cursor is not None  # a feed always says where to resume
        cursor = page.next_cursor
        if len(page.items) < limit:
            return items, cursor


def feed(documents_hub: DocumentHub, organisation: str, **kwargs: Any) -> list[InboxItem]:
    return read_all(documents_hub, organisation, **kwargs)[0]


def of_shares(items: list[InboxItem], *share_ids: str) -> list[tuple[str, str, list[str]]]:
    """The items about ``share_ids``: kind, share and documents, as strings, in feed order."""
    wanted = {uuid.UUID(s) for s in share_ids}
    return [
        (item.kind.value, str(item.share_id), [str(d) for d in item.document_ids])
        for item in items
        if item.share_id in wanted
    ]


def upload(documents_hub: DocumentHub, org: str, case: str, seed: int = 0) -> str:
    document_id: str = documents_hub.uploaded(org, pdf(seed=seed), v_number=case)["id"]
    return document_id


def share(documents_hub: DocumentHub, org: str, **kwargs: Any) -> str:
    response = documents_hub.share(org, **kwargs)
    assert response.status_code == 201, response.text
    share_id: str = response.json()["id"]
    return share_id


def case_share(documents_hub: DocumentHub, case: str, grantee: str = "GM0363", **kw: Any) -> str:
    return share(
        documents_hub,
        "DTV",
        grantee=grantee,
        v_number=case,
        document_types=["travel_document"],
        **kw,
    )


# -- what the feed holds -----------------------------------------------------------------------


def test_a_case_share_and_the_documents_added_to_it_later_arrive_in_order(
    documents_hub: DocumentHub,
) -> None:
    case, other = new_case(), new_case()
    before = upload(documents_hub, "IOM", case)
    share_id = case_share(documents_hub, case, purpose="terugkeer")
    later = upload(documents_hub, "IOM", case, seed=1)
    upload(documents_hub, "IOM", other, seed=2)  # another case: not shared

    items = feed(documents_hub, "GM0363")
    assert of_shares(items, share_id) == [
        ("share_received", share_id, [before]),
        ("document_added", share_id, [later]),
    ]
    received, added = (item for item in items if str(item.share_id) == share_id)
    assert (received.grantor, received.purpose, received.v_number) == ("DTV", "terugkeer", case)
    assert (received.document_types, received.document_id) == (["travel_document"], None)
    assert added.v_number == case
    assert received.position < added.position
    assert received.at <= added.at
    # Another organisation's feed has none of it.
    assert of_shares(feed(documents_hub, "GM0344"), share_id) == []


def test_a_share_of_one_document_is_one_item(documents_hub: DocumentHub) -> None:
    document_id = upload(documents_hub, "IOM", new_case())
    share_id = share(documents_hub, "IOM", grantee="GM0344", document_id=document_id)
    items = [i for i in feed(documents_hub, "GM0344") if str(i.share_id) == share_id]
    assert [(i.kind, i.document_id, i.v_number, i.document_types) for i in items] == [
        (InboxItemKind.SHARE_RECEIVED, uuid.UUID(document_id), None, None)
    ]
    assert [str(d) for d in items[0].document_ids] == [document_id]


def test_a_document_two_case_shares_reach_is_added_once(documents_hub: DocumentHub) -> None:
    case = new_case()
    first = case_share(documents_hub, case, purpose="terugkeer")
    second = case_share(documents_hub, case, purpose="opvang")
    document_id = upload(documents_hub, "IOM", case)
    items = of_shares(feed(documents_hub, "GM0363"), first, second)
    assert items == [
        ("share_received", first, []),
        ("share_received", second, []),
        ("document_added", first, [document_id]),
    ]
    # A share made after the document lists it as what it granted at once.
    third = case_share(documents_hub, case, purpose="voogdij")
    assert of_shares(feed(documents_hub, "GM0363"), third) == [
        ("share_received", third, [document_id])
    ]


# -- only what is visible now ------------------------------------------------------------------


def test_a_revoked_share_takes_its_items_out(documents_hub: DocumentHub) -> None:
    case = new_case()
    share_id = case_share(documents_hub, case)
    upload(documents_hub, "IOM", case)
    assert len(of_shares(feed(documents_hub, "GM0363"), share_id)) == 2
    revoked = documents_hub.client.delete(
        f"{API}/shares/{share_id}", headers=documents_hub.auth("DTV")
    )
    assert revoked.status_code == 204
    assert of_shares(feed(documents_hub, "GM0363"), share_id) == []


def test_an_expired_share_takes_its_items_out(documents_hub: DocumentHub) -> None:
    case = new_case()
    share_id = case_share(documents_hub, case, days=2)
    upload(documents_hub, "IOM", case)
    assert len(of_shares(feed(documents_hub, "GM0363"), share_id)) == 2
    in_three_days = datetime.now(UTC) + timedelta(days=3)
    assert of_shares(feed(documents_hub, "GM0363", now=in_three_days), share_id) == []


def test_a_shredded_document_drops_out(documents_hub: DocumentHub) -> None:
    case = new_case()
    first = upload(documents_hub, "IOM", case)
    kept = upload(documents_hub, "IOM", case, seed=1)
    share_id = case_share(documents_hub, case)
    added = upload(documents_hub, "IOM", case, seed=2)
    for document_id in (first, added):
        deleted = documents_hub.client.delete(
            f"{API}/documents/{document_id}", headers=documents_hub.auth("IOM")
        )
        assert deleted.status_code == 204, deleted.text
    assert of_shares(feed(documents_hub, "GM0363"), share_id) == [
        ("share_received", share_id, [kept])
    ]


def test_a_disabled_grantor_suspends_its_items_until_enabled_at_their_old_place(
    documents_hub: DocumentHub,
) -> None:
    """KMAR shares its own upload; only this test uses KMAR, whose tokens end when disabled."""
    document_id = upload(documents_hub, "KMAR", new_case())
    share_id = share(documents_hub, "KMAR", grantee="NIDOS", document_id=document_id)
    (position,) = [i.position for i in feed(documents_hub, "NIDOS") if str(i.share_id) == share_id]

    def kmar(enabled: bool) -> None:
        with db.transaction(documents_hub.hub.services.engine) as session:
            found = session.get(Organisation, "KMAR")
            assert found is not None
            set_enabled(session, found, enabled=enabled, now=datetime.now(UTC))

    kmar(False)
    try:
        assert of_shares(feed(documents_hub, "NIDOS"), share_id) == []
    finally:
        kmar(True)
    again = [i.position for i in feed(documents_hub, "NIDOS") if str(i.share_id) == share_id]
    assert again == [position]


# -- the cursor --------------------------------------------------------------------------------


def test_paging_one_by_one_gives_the_whole_feed_and_resumes_after_new_items(
    documents_hub: DocumentHub,
) -> None:
    case = new_case()
    case_share(documents_hub, case, grantee="COA")
    for seed in range(3):
        upload(documents_hub, "IOM", case, seed=seed)
    whole = feed(documents_hub, "COA")
    assert len(whole) == 4
    paged, cursor = read_all(documents_hub, "COA", limit=1)
    assert paged == whole
    assert [i.position for i in paged] == sorted({i.position for i in paged})

    # The cursor of the caught-up reader resumes after the last item: nothing new, the same
    # cursor; a new item appears, once.
    with inbox(documents_hub, "COA") as service:
        idle = service.items(cursor, 10)
    assert (idle.items, idle.next_cursor) == ([], cursor)
    newer = upload(documents_hub, "IOM", case, seed=9)
    with inbox(documents_hub, "COA") as service:
        resumed = service.items(cursor, 10)
    assert [str(d) for i in resumed.items for d in i.document_ids] == [newer]


def test_a_cursor_is_refused_for_another_organisation_and_when_forged(
    documents_hub: DocumentHub,
) -> None:
    case = new_case()
    case_share(documents_hub, case)
    case_share(documents_hub, case, purpose="opvang")
    with inbox(documents_hub, "GM0363") as service:
        cursor = service.items(None, 1).next_cursor
    with inbox(documents_hub, "GM0344") as service, pytest.raises(BadRequest):
        service.items(cursor, 1)
    with inbox(documents_hub, "GM0363") as service, pytest.raises(BadRequest):
        service.items("bm90LWEtY3Vyc29y", 1)


# -- new since the previous visit --------------------------------------------------------------


def test_new_since_the_previous_visit(documents_hub: DocumentHub) -> None:
    """DJI receives shares in this test only, so its whole feed is this test's."""
    user = str(uuid.uuid4())
    case = new_case()

    def visit(key: str, limit: int = 10) -> tuple[list[str], bool]:
        with inbox(documents_hub, "DJI") as service:
            new = service.since_last_visit(user_id=user, visit=key, limit=limit)
        return [str(i.share_id) for i in new.items], new.more

    assert visit("first") == ([], False)
    one = case_share(documents_hub, case, grantee="DJI")
    assert visit("first") == ([one], False)
    assert visit("first") == ([one], False)  # a reload still shows it
    assert visit("second") == ([], False)  # the next visit: seen before
    two = case_share(documents_hub, case, grantee="DJI", purpose="opvang")
    three = case_share(documents_hub, case, grantee="DJI", purpose="toezicht")
    assert visit("third", limit=1) == ([two], True)
    assert visit("fourth") == ([three], False)  # what did not fit is still new
    # Another person of the same organisation has seen nothing yet.
    with inbox(documents_hub, "DJI") as service:
        new = service.since_last_visit(user_id=str(uuid.uuid4()), visit="x", limit=10)
    assert [str(i.share_id) for i in new.items] == [one, two, three]


# -- expiring shares ---------------------------------------------------------------------------


def test_shares_expiring_within_seven_days_granted_and_received(
    documents_hub: DocumentHub,
) -> None:
    case = new_case()
    soon = case_share(documents_hub, case, grantee="GM0344", days=3)
    case_share(documents_hub, case, grantee="GM0344", days=30, purpose="opvang")
    gone = case_share(documents_hub, case, grantee="GM0344", days=2, purpose="toezicht")
    revoked = documents_hub.client.delete(f"{API}/shares/{gone}", headers=documents_hub.auth("DTV"))
    assert revoked.status_code == 204

    def expiring(org: str) -> dict[str, Any]:
        with inbox(documents_hub, org) as service:
            found = service.expiring()
        return {str(s.share_id): s for s in found if s.v_number == case}

    granted, received = expiring("DTV"), expiring("GM0344")
    assert list(granted) == list(received) == [soon]
    assert (granted[soon].side, received[soon].side) == (ShareSide.GRANTED, ShareSide.RECEIVED)
    assert received[soon].document_types == ["travel_document"]
    assert expiring("GM0363") == {}


# -- the trail ---------------------------------------------------------------------------------


def test_reading_the_feed_is_recorded(documents_hub: DocumentHub) -> None:
    case_share(documents_hub, new_case(), grantee="BUZA")
    with inbox(documents_hub, "BUZA") as service:
        page = service.items(None, 500)
    with Session(documents_hub.hub.services.engine) as session:
        last = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action) == Action.INBOX_READ.value)
            .order_by(col(AuditEvent.seq).desc())
            .limit(1)
        ).one()
    assert (last.organisation, last.outcome, last.resource_type) == ("BUZA", "success", "inbox")
    assert (last.actor_type, last.actor_id, last.actor_client) == (
        "user",
        "buza.medewerker",
        "ketenhub-web",
    )
    assert last.detail == f"{len(page.items)} items"
