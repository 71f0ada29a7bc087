"""Benchmark: how long a page of ``GET /documents`` takes to find, on PostgreSQL.

A list must show exactly what single reads allow (:mod:`hub.access`). There are two ways to get
there, and issue 10 asks to choose by measurement:

- **compiled SQL** (what the hub does): the policy is compiled into the list's filter
  (:func:`hub.access.listing.visible_to`), one query per page;
- **Python per page**: a coarse SQL filter (shares only checked for being active, as the hub's
  list did before) finds candidates, and each candidate that the policy alone does not admit is
  put through the rule for one document (:func:`hub.access.rule.read_access`, one share query
  each), fetching more candidates until the page is full.

The figures of the list query from before :mod:`hub.access` are in decision 0010. The data: the
chain's organisations plus ``--gemeenten`` gemeenten, the demo policy, ``--documents`` documents
spread over the uploaders the policy allows (three per case), and ``--shares`` shares (document
and case shares, from DTV or the uploader, to random organisations; a tenth expired, a tenth
revoked). Each figure is the median and p95 of ``--repeat`` runs of a first page (``limit`` 50)
and of a search by case, per party.

A benchmark, not a test: it prints figures and asserts nothing. It has no target of its own:
it compares the two ways, and decision 0010 records the choice. Run:

    .venv/bin/python benchmarks/visibility.py [--quick] [--documents 100000] [--shares 20000]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

``--quick`` (3,000 documents, 600 shares, 3 repeats unless said otherwise) is the smoke run CI
does; on so few rows both ways are fast, so its figures do not decide anything.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, and_, exists, insert, or_, text
from sqlmodel import Session, col, select

# Keep imports from the project root, however the script is started.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.api import scratch_database
from benchmarks.conventions import add_quick, apply_sizes, machine_header
from hub.access import repository as access_sql
from hub.access.rule import read_access
from hub.core import db
from hub.documents import repository as documents
from hub.documents.repository import DocumentFilter
from hub.organisations.service import CHAIN, DEMO_GEMEENTEN
from hub.rules import Party, Policy, demo_policy_bytes, load_policy
from hub.tables.documents import Document
from hub.tables.organisations import Organisation, OrganisationKind
from hub.tables.shares import Share, ShareType

DEFAULT_ADMIN_URL: Final = "postgresql://postgres@127.0.0.1:5432/test"
LIMIT: Final = 50
UPLOADERS: Final = {
    "travel_document": ("IOM", "KMAR", "IND", "DTV"),
    "decision": ("IND", "DTV"),
    "case_info": ("COA", "IND", "DTV", "GEMEENTE"),
}
PARTIES: Final = ("DTV", "IOM", "COA", "NIDOS", "GM0363")
NOW: Final = datetime.now(UTC)

Page = Callable[[Session, Policy, Party, DocumentFilter], Sequence[Document]]


def seed(
    engine: Engine, *, gemeenten: int, documents: int, shares: int, rng: random.Random
) -> Policy:
    """Fill the database; returns the demo policy loaded against its organisations."""
    kinds = {s.code: OrganisationKind(s.kind) for s in CHAIN + DEMO_GEMEENTEN}
    kinds |= {f"GM{n:04d}": OrganisationKind.GEMEENTE for n in range(1, gemeenten + 1)}
    codes = sorted(kinds)
    gemeente_codes = [c for c, k in kinds.items() if k is OrganisationKind.GEMEENTE]
    doc_rows: list[dict[str, Any]] = []
    for i in range(documents):
        document_type = rng.choice(list(UPLOADERS))
        uploader = rng.choice(UPLOADERS[document_type])
        if uploader == "GEMEENTE":
            uploader = rng.choice(gemeente_codes)
        doc_rows.append(
            {
                "id": uuid.uuid4(),
                "document_type": document_type,
                "uploader": uploader,
                "uploaded_by": "bench",
                "v_index": f"case-{i // 3}",
                "v_number_sealed": b"sealed",
                "content_type": "application/pdf",
                "size": 1000,
                "sha256": "0" * 64,
                "version": 0,
                "created_at": NOW - timedelta(seconds=documents - i),
                "retain_until": NOW + timedelta(days=3650),
            }
        )
    share_rows: list[dict[str, Any]] = []
    type_rows: list[dict[str, Any]] = []
    for _ in range(shares):
        doc = rng.choice(doc_rows)
        grantor = rng.choice(("DTV", doc["uploader"]))
        # A tenth to one gemeente with much shared to it; the rest anywhere but the grantor.
        grantee = "GM0363" if rng.random() < 0.1 else rng.choice(codes)
        while grantee == grantor:
            grantee = rng.choice(codes)
        roll = rng.random()
        row = {
            "id": uuid.uuid4(),
            "grantor": grantor,
            "grantee": grantee,
            "document_id": None,
            "v_index": None,
            "v_number_sealed": None,
            "purpose": "terugkeer",
            "created_by": "bench",
            "created_at": NOW - timedelta(days=10),
            "expires_at": NOW + timedelta(days=-1 if roll < 0.1 else 30),
            "revoked_at": NOW - timedelta(days=1) if 0.1 <= roll < 0.2 else None,
        }
        if rng.random() < 0.5:
            row["document_id"] = doc["id"]
        else:
            row["v_index"], row["v_number_sealed"] = doc["v_index"], b"sealed"
            type_rows.append(
                {
                    "share_id": row["id"],
                    "document_type": doc["document_type"],
                    "own_only": grantor != "DTV",
                }
            )
        share_rows.append(row)
    with db.transaction(engine) as session:
        session.execute(
            insert(Organisation),
            [{"code": c, "name": c, "kind": k.value, "enabled": True} for c, k in kinds.items()],
        )
        for start in range(0, len(doc_rows), 10_000):
            session.execute(insert(Document), doc_rows[start : start + 10_000])
        for start in range(0, len(share_rows), 10_000):
            session.execute(insert(Share), share_rows[start : start + 10_000])
        if type_rows:
            session.execute(insert(ShareType), type_rows)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return load_policy(demo_policy_bytes(), source="demo", organisations=kinds)


def compiled_sql(
    session: Session, policy: Policy, party: Party, where: DocumentFilter
) -> Sequence[Document]:
    return documents.visible_page(
        session, policy=policy, party=party, where=where, now=NOW, after=None, limit=LIMIT
    )


def python_per_page(
    session: Session, policy: Policy, party: Party, where: DocumentFilter
) -> Sequence[Document]:
    """Candidates by the coarse filter (shares only checked for being active), each one the
    policy alone does not admit put through the rule for one document, until a page is full."""
    by_share = and_(
        col(Share.grantee) == party.code,
        access_sql.grantor_is_share_grantor(),
        access_sql.active(NOW),
    )
    case = access_sql.shares_case(
        v_index=col(Document.v_index),
        document_type=col(Document.document_type),
        uploader=col(Document.uploader),
    )
    coarse = and_(
        col(Document.deleted_at).is_(None),
        or_(
            col(Document.uploader) == party.code,
            col(Document.document_type).in_(sorted(policy.readable_types(party)) or [""]),
            exists().where(by_share, access_sql.shares_document(col(Document.id))),
            exists().where(by_share, case),
        ),
    )
    page: list[Document] = []
    after: tuple[datetime, uuid.UUID] | None = None
    while len(page) < LIMIT:
        statement = select(Document).where(coarse)
        if where.v_index is not None:
            statement = statement.where(Document.v_index == where.v_index)
        if after is not None:
            statement = statement.where(
                col(Document.created_at) < after[0]  # created_at is unique in this data
            )
        statement = statement.order_by(col(Document.created_at).desc()).limit(LIMIT)
        rows = session.exec(statement).all()
        for row in rows:
            if read_access(session, policy=policy, party=party, document=row, now=NOW).allowed:
                page.append(row)
                if len(page) == LIMIT:
                    break
        if len(rows) < LIMIT:
            break
        after = (rows[-1].created_at, rows[-1].id)
    return page


def measure(
    engine: Engine, policy: Policy, page: Page, where: Callable[[str], DocumentFilter], repeat: int
) -> dict[str, tuple[float, float, int]]:
    figures = {}
    with Session(engine) as session:
        for code in PARTIES:
            party = Party(code, policy_kind(session, code))
            page(session, policy, party, where(code))  # warm the plan and the cache
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                found = page(session, policy, party, where(code))
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            figures[code] = (
                statistics.median(times),
                times[min(len(times) - 1, int(0.95 * len(times)))],
                len(found),
            )
    return figures


def policy_kind(session: Session, code: str) -> OrganisationKind:
    organisation = session.get(Organisation, code)
    assert organisation is not None
    return OrganisationKind(organisation.kind)


def case_of(engine: Engine) -> Callable[[str], DocumentFilter]:
    """A search for one case that the party has a share of (else any case)."""
    with Session(engine) as session:
        statement = select(Share.grantee, Share.v_index).where(col(Share.v_index).is_not(None))
        cases: dict[str, str | None] = dict(session.exec(statement).all())
    return lambda code: DocumentFilter(v_index=cases.get(code) or "case-1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_quick(parser)
    parser.add_argument("--postgres", default=DEFAULT_ADMIN_URL, metavar="ADMIN_URL")
    parser.add_argument("--documents", type=int, default=None, help="100000; 3000 with --quick")
    parser.add_argument("--shares", type=int, default=None, help="20000; 600 with --quick")
    parser.add_argument("--gemeenten", type=int, default=340)
    parser.add_argument("--repeat", type=int, default=None, help="30; 3 with --quick")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    apply_sizes(args, documents=(100_000, 3_000), shares=(20_000, 600), repeat=(30, 3))
    print("\n".join(machine_header(quick=args.quick)), flush=True)
    with scratch_database(args.postgres) as url:
        engine = db.make_engine(url)
        db.migrate(engine)
        started = time.perf_counter()
        policy = seed(
            engine,
            gemeenten=args.gemeenten,
            documents=args.documents,
            shares=args.shares,
            rng=random.Random(args.seed),
        )
        print(
            f"{args.documents} documents, {args.shares} shares, "
            f"{len(CHAIN) + len(DEMO_GEMEENTEN) + args.gemeenten} organisations "
            f"(seeded in {time.perf_counter() - started:.1f} s)"
        )
        ways: dict[str, Page] = {"compiled SQL": compiled_sql, "Python per page": python_per_page}
        searches = {"list": lambda _code: DocumentFilter(), "search by case": case_of(engine)}
        for search, where in searches.items():
            for name, page in ways.items():
                figures = measure(engine, policy, page, where, args.repeat)
                print(f"\n{search}, {name}: median / p95 ms (rows)")
                for code, (median, p95, rows) in figures.items():
                    print(f"  {code:8} {median:8.2f} {p95:8.2f}  ({rows})")
        print("\ntarget: none; a comparison of the two ways (decision 0010 records the choice)")
        engine.dispose()


if __name__ == "__main__":
    main()
