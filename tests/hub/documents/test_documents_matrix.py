"""The authorization matrix: every organisation x action x document type x share state.

The expected answers come from :func:`expected`, an oracle written by hand from DESIGN.md's
demo-policy table, never from ``hub.rules``. :func:`test_oracle_agrees_with_the_demo_policy`
checks that the demo policy file, read by the hub's own engine (``Policy.decide``), says the
same for every question without a share, and the matrix tests check that the hub under test runs
that very file: a wrong file, a wrong engine and a wrong endpoint each fail somewhere here.

Each matrix test starts one hub per backend and checks every cell against it, collecting the
mismatches and printing them all (organisation, action, type, share state, expected, got), so
one run shows the whole shape of a bug. List and search count as 200 when the document is in the
answer and 404 when it is not. Deletes come last; a deleted document is replaced by a fresh one
(same uploader, type and case, with its shares) before the next organisation tries, and a last
round of lists and searches checks that the deleted ones are gone and the new ones visible.
Independent checks run side by side on a few threads, which cuts the run time by half or more;
checks that could disturb each other (a share that makes a document visible, a delete) are
ordered so that they never do.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final, TypeVar

from sqlalchemy import update
from sqlmodel import col

import hub.rules
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN
from hub.rules.loader import load_policy_file
from hub.rules.model import Party, PolicyAction
from hub.tables.shares import Share
from tests.fixtures.documents import API, DocumentHub, pdf

# -- the oracle: DESIGN.md, "The demo policy" --------------------------------------------------

GEMEENTEN: Final = ("GM0363", "GM0344")
ORGS: Final = ("DTV", "IND", "COA", "POLITIE", "KMAR", "DJI", "BUZA", "IOM", "NIDOS", *GEMEENTEN)
TYPES: Final = ("travel_document", "decision", "case_info")
VERBS: Final = ("upload", "read", "share", "delete")

# DESIGN.md's table: per type, who may upload | read without a share | share | delete, where
# "uploader" is the organisation that uploaded the document and "gemeente" every gemeente.
# Besides: "An organisation always reads the documents it uploaded" (see allowed()), and
# "DELETE /documents/{id} is allowed to the uploading organisation and to DTV".
# fmt: off
ROWS: Final = {
    "travel_document": "IOM DTV KMAR IND     | DTV KMAR IND uploader | DTV uploader | DTV uploader",
    "decision":        "IND DTV              | IND DTV COA           | DTV IND      | DTV uploader",
    "case_info":       "DTV COA IND gemeente | DTV uploader          | DTV uploader | DTV uploader",
}
# fmt: on
TABLE: Final = {
    name: dict(zip(VERBS, (frozenset(cell.split()) for cell in row.split("|")), strict=True))
    for name, row in ROWS.items()
}
MAX_SHARE_DAYS: Final = {"travel_document": 90, "decision": 30, "case_info": 90}
DEMO_POLICY: Final = Path(hub.rules.__file__).parent / "demo.yaml"


def allowed(org: str, verb: str, document_type: str, uploader: str | None = None) -> bool:
    """May ``org`` do ``verb`` on a document of this type by ``uploader`` (None: any such)?"""
    names = TABLE[document_type][verb]
    if org in names or ("gemeente" in names and org in GEMEENTEN):
        return True
    own = uploader is not None and uploader == org
    return own and ("uploader" in names or verb == "read")


class Act(StrEnum):
    UPLOAD = "upload"
    READ = "metadata read"
    DOWNLOAD = "download"
    LIST = "list"
    SEARCH = "search"
    SHARE = "share"
    DELETE = "delete"


def expected(org: str, act: Act, document_type: str, *, uploader: str, shared: bool) -> int:
    """The status the hub must answer; ``shared``: an active share to ``org`` covers it."""
    if act is Act.UPLOAD:
        return 201 if allowed(org, "upload", document_type) else 403
    if not (shared or allowed(org, "read", document_type, uploader)):
        return 404
    if act is Act.SHARE:
        return 201 if allowed(org, "share", document_type, uploader) else 403
    if act is Act.DELETE:
        return 204 if allowed(org, "delete", document_type, uploader) else 403
    return 200


class State(StrEnum):
    NONE = "no share"
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass
class Doc:
    id: str
    document_type: str
    uploader: str
    case: str
    label: str
    """The share state of its scenario, as the report prints it."""
    alive: bool = True


@dataclass
class Grant:
    """A share as the oracle sees it: a document share, or a case share of some types."""

    id: str
    grantor: str
    grantee: str
    state: State
    document_id: str | None = None
    case: str | None = None
    types: frozenset[str] = frozenset()

    def covers(self, org: str, doc: Doc) -> bool:
        """DESIGN.md: a share covers only what its grantor itself may share."""
        if self.state is not State.ACTIVE or self.grantee != org:
            return False
        if self.document_id is not None and self.document_id != doc.id:
            return False
        if self.document_id is None and (
            self.case != doc.case or doc.document_type not in self.types
        ):
            return False
        return allowed(self.grantor, "share", doc.document_type, doc.uploader)


def test_oracle_agrees_with_the_demo_policy() -> None:
    kinds = {seed.code: seed.kind for seed in CHAIN + DEMO_GEMEENTEN}
    policy = load_policy_file(DEMO_POLICY, organisations=kinds)
    assert set(kinds) == set(ORGS)
    disagreements = []
    for org in ORGS:
        party = Party(org, kinds[org])
        for document_type in TYPES:
            for verb in VERBS:
                for uploader in (None, *ORGS):
                    decision = policy.decide(
                        party, PolicyAction(verb), document_type, uploader=uploader
                    )
                    if decision.allowed != allowed(org, verb, document_type, uploader):
                        disagreements.append((org, verb, document_type, uploader, decision))
            assert policy.may_receive(party, document_type).allowed  # share_to: any
    for document_type, days in MAX_SHARE_DAYS.items():
        assert policy.max_share_duration([document_type]) == timedelta(days=days)
    assert disagreements == []


# -- the runner --------------------------------------------------------------------------------

TEMPLATES: Final = (
    ("IOM", "travel_document"),
    ("KMAR", "travel_document"),
    ("IND", "decision"),
    ("GM0363", "case_info"),
    ("COA", "case_info"),
)
UPLOAD_CASE: Final = "3999999999"
WORKERS: Final = 8
Reshare = Callable[["Matrix", Doc, Sequence[str]], None]
T = TypeVar("T")


def parallel(work: Callable[[T], object], items: Iterable[T]) -> None:
    """Run independent checks side by side: each mostly waits on the database, so a few
    threads cut the run time by half or more. An exception in a worker is raised here."""
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(work, items))


@dataclass
class Matrix:
    """The documents and shares the test made (the oracle's view), and the mismatches."""

    hub: DocumentHub
    docs: list[Doc] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    cells: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def upload(self, uploader: str, document_type: str, case: str, label: str) -> Doc:
        content = pdf(200)
        body = self.hub.uploaded(uploader, content, document_type=document_type, v_number=case)
        doc = Doc(body["id"], document_type, uploader, case, label)
        with self.lock:
            self.docs.append(doc)
        return doc

    def share(
        self,
        grantor: str,
        grantee: str,
        *,
        document_id: str | None = None,
        case: str | None = None,
        types: Sequence[str] = (),
    ) -> Grant:
        response = self.hub.share(
            grantor,
            grantee=grantee,
            document_id=document_id,
            v_number=case,
            document_types=list(types) or None,
            days=7,
        )
        assert response.status_code == 201, response.text
        share_id = response.json()["id"]
        grant = Grant(share_id, grantor, grantee, State.ACTIVE, document_id, case, frozenset(types))
        with self.lock:
            self.grants.append(grant)
        return grant

    def check(self, org: str, act: Act, doc: Doc, got: int) -> None:
        with self.lock:
            self.cells += 1
            shared = any(grant.covers(org, doc) for grant in self.grants)
        want = expected(org, act, doc.document_type, uploader=doc.uploader, shared=shared)
        if not doc.alive:
            want = 404  # deleted: gone for everyone, whatever the policy or a share says
        if got != want:
            self.mismatch(
                f"{org:7} {act:13} {doc.document_type:15} by {doc.uploader:6} "
                f"{doc.label:30} (case {doc.case}, {doc.id[:8]}) expected {want}, got {got}"
            )

    def mismatch(self, line: str) -> None:
        with self.lock:
            self.mismatches.append(line)

    def report(self) -> None:
        for line in sorted(self.mismatches):
            print(line)
        print(f"{self.cells} cells, {len(self.mismatches)} mismatches")
        assert self.mismatches == [], f"{len(self.mismatches)} mismatches, see stdout"


def check_uploads(matrix: Matrix) -> None:
    """Each organisation uploads each type (in a case of its own); allowed ones stay, listed."""

    def uploads_of(org: str) -> None:
        for document_type in TYPES:
            response = matrix.hub.upload(
                org, pdf(200), document_type=document_type, v_number=UPLOAD_CASE
            )
            label = f"{State.NONE} (upload check)"
            doc = Doc(response.json().get("id", ""), document_type, org, UPLOAD_CASE, label)
            matrix.check(org, Act.UPLOAD, doc, response.status_code)
            if response.status_code == 201:
                with matrix.lock:
                    matrix.docs.append(doc)

    parallel(uploads_of, ORGS)


def check_listing(matrix: Matrix) -> None:
    """List (every document the test made, deleted ones included) and search (every case)."""
    client = matrix.hub.client
    docs = list(matrix.docs)
    known = {doc.id for doc in docs}

    def listed_for(org: str) -> None:
        headers = matrix.hub.auth(org)
        listing = client.get(f"{API}/documents", params={"limit": 500}, headers=headers)
        answers = [(Act.LIST, docs, listing)]
        for case in sorted({doc.case for doc in docs}):
            search = {"v_number": case, "limit": 500}
            found = client.post(f"{API}/documents/search", json=search, headers=headers)
            answers.append((Act.SEARCH, [doc for doc in docs if doc.case == case], found))
        for act, asked, answer in answers:
            page = answer.json()
            assert page["next_cursor"] is None
            shown = {item["id"] for item in page["items"]}
            for doc in asked:
                matrix.check(org, act, doc, 200 if doc.id in shown else 404)
            if shown - known:
                matrix.mismatch(f"{org:7} {act:13} shows documents nobody made: {shown - known}")

    parallel(listed_for, ORGS)


def check_visibility(matrix: Matrix, scenario_docs: Sequence[Doc]) -> None:
    """Listing, then each document's metadata and content for every organisation."""
    check_listing(matrix)

    def read_by(org: str) -> None:
        headers = matrix.hub.auth(org)
        for doc in scenario_docs:
            got = matrix.hub.client.get(f"{API}/documents/{doc.id}", headers=headers).status_code
            matrix.check(org, Act.READ, doc, got)
            matrix.check(org, Act.DOWNLOAD, doc, matrix.hub.content(org, doc.id).status_code)

    parallel(read_by, ORGS)


def check_sharing(matrix: Matrix, scenario_docs: Sequence[Doc]) -> None:
    """Each organisation shares each document with DTV, which reads everything anyway, so no
    share made here changes what the other checks expect. DTV itself shares with BUZA and
    revokes at once, after the others are done (BUZA sees the document in between)."""

    def shares_of(org: str) -> None:
        grantee = "BUZA" if org == "DTV" else "DTV"
        for doc in scenario_docs:
            response = matrix.hub.share(org, grantee=grantee, document_id=doc.id, days=7)
            matrix.check(org, Act.SHARE, doc, response.status_code)
            if response.status_code == 201 and grantee != "DTV":
                revoke(matrix.hub, org, response.json()["id"])

    parallel(shares_of, [org for org in ORGS if org != "DTV"])
    shares_of("DTV")


def check_deletes(matrix: Matrix, chains: Sequence[tuple[Doc, Reshare | None]]) -> None:
    """Each organisation in turn tries to delete each document; one that was deleted is
    replaced (and shared again, by its ``Reshare``) before the next organisation tries."""

    def deletes_of(chain: tuple[Doc, Reshare | None]) -> None:
        doc, reshare = chain
        for index, org in enumerate(ORGS):
            if not doc.alive:
                doc = matrix.upload(doc.uploader, doc.document_type, doc.case, doc.label)
                if reshare is not None:
                    reshare(matrix, doc, ORGS[index:])
            headers = matrix.hub.auth(org)
            response = matrix.hub.client.delete(f"{API}/documents/{doc.id}", headers=headers)
            matrix.check(org, Act.DELETE, doc, response.status_code)
            if response.status_code == 204:
                doc.alive = False
                got = matrix.hub.client.get(f"{API}/documents/{doc.id}", headers=headers)
                matrix.check(org, Act.READ, doc, got.status_code)

    parallel(deletes_of, chains)


def scenario(matrix: Matrix, case: str, label: str) -> list[Doc]:
    docs: list[Doc] = []
    parallel(lambda t: docs.append(matrix.upload(t[0], t[1], case, label)), TEMPLATES)
    return sorted(docs, key=lambda doc: TEMPLATES.index((doc.uploader, doc.document_type)))


def case_shares(matrix: Matrix, case: str) -> list[Grant]:
    """DTV shares the whole case (every type) with every other organisation."""
    grants: list[Grant] = []
    others = [org for org in ORGS if org != "DTV"]
    parallel(lambda org: grants.append(matrix.share("DTV", org, case=case, types=TYPES)), others)
    return grants


def document_shares(matrix: Matrix, doc: Doc, orgs: Sequence[str]) -> None:
    for org in orgs:
        if org != "DTV":
            matrix.share("DTV", org, document_id=doc.id)


def prepare(documents_hub: DocumentHub) -> Matrix:
    for org in ORGS:
        documents_hub.token(org)  # before the threads start: the token cache is not shared-safe
    return Matrix(documents_hub)


# -- the matrix --------------------------------------------------------------------------------


def test_matrix_without_shares_and_with_case_shares(documents_hub: DocumentHub) -> None:
    """Uploads; then documents in four cases: no share, and a DTV case share (all types) to
    every other organisation that is active, expired or revoked. DTV itself is the grantor,
    so its rows show what it reads without a share (everything).

    Expired: the share's ``expires_at`` is set one second into the past in the database (the
    services take no clock from outside); revoked: DTV revokes it through the API.
    """
    in_force = documents_hub.hub.services.policy
    assert in_force.hash == "sha256:" + hashlib.sha256(DEMO_POLICY.read_bytes()).hexdigest()
    matrix = prepare(documents_hub)
    check_uploads(matrix)
    cases = {
        State.NONE: "3000000001",
        State.ACTIVE: "3000000002",
        State.EXPIRED: "3000000003",
        State.REVOKED: "3000000004",
    }
    docs = [doc for state, case in cases.items() for doc in scenario(matrix, case, state)]
    expired = case_shares(matrix, cases[State.EXPIRED])
    past = datetime.now(UTC) - timedelta(seconds=1)
    with documents_hub.hub.services.engine.begin() as connection:
        ids = [uuid.UUID(grant.id) for grant in expired]
        connection.execute(update(Share).where(col(Share.id).in_(ids)).values(expires_at=past))
    revoked = case_shares(matrix, cases[State.REVOKED])
    parallel(lambda grant: revoke(documents_hub, "DTV", grant.id), revoked)
    case_shares(matrix, cases[State.ACTIVE])
    for grant in expired:
        grant.state = State.EXPIRED
    for grant in revoked:
        grant.state = State.REVOKED
    check_visibility(matrix, docs)
    check_sharing(matrix, docs)
    check_deletes(matrix, [(doc, None) for doc in docs])
    check_listing(matrix)
    matrix.report()


def test_matrix_with_document_shares_and_uploader_case_shares(documents_hub: DocumentHub) -> None:
    """Two more cases. In one, DTV shares each document on its own with every other
    organisation. In the other, IOM shares the case's travel documents and GM0363 its case
    information with every other organisation: an uploader's case share covers only its own
    uploads, so KMAR's travel document and COA's case information there stay hidden."""
    matrix = prepare(documents_hub)
    by_document = scenario(matrix, "3000000005", "active (document share)")
    parallel(lambda doc: document_shares(matrix, doc, ORGS), by_document)
    own_case = "3000000006"
    by_uploader = scenario(matrix, own_case, "active (uploader's case share)")

    def uploader_shares(org: str) -> None:
        if org != "IOM":
            matrix.share("IOM", org, case=own_case, types=["travel_document"])
        if org != "GM0363":
            matrix.share("GM0363", org, case=own_case, types=["case_info"])

    parallel(uploader_shares, ORGS)
    iom_travel, kmar_travel = by_uploader[0], by_uploader[1]
    assert documents_hub.content("GM0344", iom_travel.id).status_code == 200
    assert documents_hub.content("GM0344", kmar_travel.id).status_code == 404
    check_visibility(matrix, by_document + by_uploader)
    check_sharing(matrix, by_document + by_uploader)
    chains = [(doc, document_shares) for doc in by_document] + [(d, None) for d in by_uploader]
    check_deletes(matrix, chains)
    check_listing(matrix)
    matrix.report()


def revoke(documents_hub: DocumentHub, org: str, share_id: str) -> None:
    response = documents_hub.client.delete(
        f"{API}/shares/{share_id}", headers=documents_hub.auth(org)
    )
    assert response.status_code == 204, response.text
