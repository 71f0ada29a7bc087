"""The web-session keys on both databases: the KEK ring seals one key, not every session.

Each replica is a :class:`WebSessions` of its own, with its own key-ring instance on the same key
file and its own cache of the web-session keys, on one database: as two hub processes are.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub.core import db
from hub.tables.web_sessions import WebSession as Row
from hub.tables.web_sessions import WebSessionKey
from hub.websessions.keys import WebSessionKeys
from hub.websessions.store import WebSessions
from storage.keys import LocalKeyRing

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
IDLE = timedelta(minutes=15)
LIFETIME = timedelta(hours=8)
CACHE = 60.0


class Replica:
    """One hub process: its key ring (opened from the shared file) and its session store."""

    def __init__(self, key_file: Path, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self.ring = LocalKeyRing(key_file)
        self.keys = WebSessionKeys(keys=self.ring, cache_seconds=CACHE, clock=clock)
        self.sessions = WebSessions(keys=self.keys, engine=engine, idle=IDLE, lifetime=LIFETIME)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "keyring.json"
    LocalKeyRing.create(path)
    return path


@pytest.fixture
def replica(key_file: Path, migrated_engine: Engine) -> Replica:
    return Replica(key_file, migrated_engine, clock=lambda: T0)


def _started(replica: Replica, engine: Engine, **progress: str) -> str:
    """A session started and saved in a committed transaction; returns its cookie."""
    with db.transaction(engine) as session:
        web, cookie = replica.sessions.start(session, now=T0)
        web.progress.update(progress)
        replica.sessions.save(session, web, now=T0)
    return cookie


def _progress(replica: Replica, engine: Engine, cookie: str) -> dict[str, object] | None:
    with db.transaction(engine) as session:
        web = replica.sessions.load(session, cookie, now=T0)
        return None if web is None else web.progress


def _key_ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(select(WebSessionKey).order_by(col(WebSessionKey.generation))).all()
        return [row.key_id for row in rows]


def test_sessions_spend_no_kek_nonces(replica: Replica, migrated_engine: Engine) -> None:
    kek = replica.ring.current_kek_id()
    _started(replica, migrated_engine)  # the first session creates the web-session key: 1 seal
    assert replica.ring.wrap_count(kek) == 1
    with db.transaction(migrated_engine) as session:
        for n in range(100):
            web, _ = replica.sessions.start(session, now=T0)
            web.progress["state"] = f"state-{n}"
            replica.sessions.save(session, web, now=T0)
            web.user_id, web.access_token = f"u-{n}", f"token-{n}"
            rotated, _ = replica.sessions.rotate(session, web, now=T0)
            rotated.refresh_token = f"refresh-{n}"
            replica.sessions.save(session, rotated, now=T0)
    assert replica.ring.wrap_count(kek) == 1
    assert _key_ids(migrated_engine) == ["web-session-1"]


def test_every_session_has_a_key_of_its_own(replica: Replica, session: Session) -> None:
    """The same document in two sessions is two unrelated ciphertexts, neither opening in the
    other's row (the store's tests move a whole row's data; this moves equal documents)."""
    first, _ = replica.sessions.start(session, now=T0)
    second, second_cookie = replica.sessions.start(session, now=T0)
    rows = {row.id_hash: row for row in session.exec(select(Row)).all()}
    a, b = rows[first.id_hash], rows[second.id_hash]
    assert a.key_id == b.key_id == "web-session-1"
    assert a.sealed_data[13:] != b.sealed_data[13:]
    b.sealed_data = a.sealed_data
    session.add(b)
    session.flush()
    assert replica.sessions.load(session, second_cookie, now=T0) is None


def _flip(offset: int) -> Callable[[Row], None]:
    def tamper(row: Row) -> None:
        data = bytearray(row.sealed_data)
        data[offset] ^= 0x01
        row.sealed_data = bytes(data)

    return tamper


def _truncate(row: Row) -> None:
    row.sealed_data = row.sealed_data[:28]


def _unknown_key(row: Row) -> None:
    row.key_id = "web-session-9"


TAMPERS: dict[str, Callable[[Row], None]] = {
    "version": _flip(0),
    "nonce": _flip(5),
    "ciphertext": _flip(20),
    "tag": _flip(-1),
    "truncated": _truncate,
    "unknown key id": _unknown_key,
}


@pytest.mark.parametrize("tamper", TAMPERS.values(), ids=TAMPERS.keys())
def test_a_tampered_row_opens_nothing(
    replica: Replica, session: Session, tamper: Callable[[Row], None]
) -> None:
    web, cookie = replica.sessions.start(session, now=T0)
    web.user_id, web.access_token = "u-1", "access-secret"
    replica.sessions.save(session, web, now=T0)
    row = session.exec(select(Row)).one()
    tamper(row)
    session.add(row)
    session.flush()
    assert replica.sessions.load(session, cookie, now=T0) is None


def test_data_named_under_another_key_opens_nothing(replica: Replica, session: Session) -> None:
    _, cookie = replica.sessions.start(session, now=T0)
    replica.keys.rotate(session)
    row = session.exec(select(Row)).one()
    assert row.key_id == "web-session-1"
    row.key_id = "web-session-2"  # a key that exists, but not the one that encrypted the data
    session.add(row)
    session.flush()
    assert replica.sessions.load(session, cookie, now=T0) is None


def test_two_replicas_share_the_session_key(key_file: Path, migrated_engine: Engine) -> None:
    one = Replica(key_file, migrated_engine, clock=lambda: T0)
    two = Replica(key_file, migrated_engine, clock=lambda: T0)
    from_one = _started(one, migrated_engine, step="one")
    from_two = _started(two, migrated_engine, step="two")
    assert _progress(two, migrated_engine, from_one) == {"step": "one"}
    assert _progress(one, migrated_engine, from_two) == {"step": "two"}
    assert _key_ids(migrated_engine) == ["web-session-1"]


def test_two_replicas_creating_the_first_key_at_once_make_one(
    key_file: Path, migrated_engine: Engine
) -> None:
    """The second replica's first session waits on the first's uncommitted key (PostgreSQL: the
    unique generation; SQLite: the writer lock) and then uses that key, not one of its own."""
    one = Replica(key_file, migrated_engine, clock=lambda: T0)
    two = Replica(key_file, migrated_engine, clock=lambda: T0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        with db.transaction(migrated_engine) as session:
            web, first = one.sessions.start(session, now=T0)
            web.progress["step"] = "one"
            one.sessions.save(session, web, now=T0)
            waiting = pool.submit(_started, two, migrated_engine, step="two")
            done, _ = wait([waiting], timeout=1.0)
            assert not done, "the second replica did not wait for the first one's key"
        second = waiting.result(timeout=30)
    assert _key_ids(migrated_engine) == ["web-session-1"]
    assert _progress(one, migrated_engine, second) == {"step": "two"}
    assert _progress(two, migrated_engine, first) == {"step": "one"}


def test_a_rotated_key_serves_new_sessions_and_the_old_one_ends_with_its_sessions(
    key_file: Path, migrated_engine: Engine
) -> None:
    replica = Replica(key_file, migrated_engine, clock=lambda: T0)
    old = _started(replica, migrated_engine, step="old")
    with db.transaction(migrated_engine) as session:
        assert replica.keys.rotate(session) == "web-session-2"
    new = _started(replica, migrated_engine, step="new")
    with Session(migrated_engine) as session:
        assert sorted(row.key_id for row in session.exec(select(Row)).all()) == [
            "web-session-1",
            "web-session-2",
        ]
    assert _progress(replica, migrated_engine, old) == {"step": "old"}

    # While a session names the old key, or a replica may still cache it as current, it stays.
    later = T0 + timedelta(seconds=CACHE + 1)
    with db.transaction(migrated_engine) as session:
        assert replica.keys.prune(session, now=T0) == 0
        assert replica.keys.prune(session, now=later) == 0
    assert _key_ids(migrated_engine) == ["web-session-1", "web-session-2"]
    # Its session's next change moves it to the new key; then nothing needs the old one.
    with db.transaction(migrated_engine) as session:
        web = replica.sessions.load(session, old, now=T0)
        assert web is not None
        web.progress["step"] = "moved"
        replica.sessions.save(session, web, now=T0)
    with db.transaction(migrated_engine) as session:
        assert replica.sessions.purge(session, now=T0 + timedelta(seconds=30)) == 0
        assert replica.keys.prune(session, now=later) == 1
    assert _key_ids(migrated_engine) == ["web-session-2"]
    assert _progress(replica, migrated_engine, old) == {"step": "moved"}
    assert _progress(replica, migrated_engine, new) == {"step": "new"}


def test_rewrap_and_retire_of_the_kek_keep_sessions_readable(
    key_file: Path, migrated_engine: Engine
) -> None:
    replica = Replica(key_file, migrated_engine, clock=lambda: T0)
    cookie = _started(replica, migrated_engine, step="before")
    first = replica.ring.current_kek_id()
    second = replica.ring.rotate()
    with db.transaction(migrated_engine) as session:
        assert replica.keys.held(session) == {first: 1}
        assert replica.keys.reseal(session) == 1
        assert replica.keys.held(session) == {second: 1}
    replica.ring.retire(first)
    restarted = Replica(key_file, migrated_engine, clock=lambda: T0)  # nothing cached
    assert _progress(restarted, migrated_engine, cookie) == {"step": "before"}
