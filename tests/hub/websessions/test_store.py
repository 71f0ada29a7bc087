"""Web sessions on both databases, with a fixed clock: ids, expiry, rotation, end, sealing.

The web-session keys (derivation, the KEK's budget, replicas, rotation): ``test_keys.py``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub.tables.web_sessions import WebSession as Row
from hub.websessions.keys import WebSessionKeys
from hub.websessions.store import WebSessions, csrf_token_for
from storage.keys import LocalKeyRing

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
IDLE = timedelta(minutes=15)
LIFETIME = timedelta(hours=8)


@pytest.fixture
def sessions(tmp_path: Path, migrated_engine: Engine) -> WebSessions:
    keys = LocalKeyRing.create(tmp_path / "keys" / "keyring.json")
    return WebSessions(
        keys=WebSessionKeys(keys=keys), engine=migrated_engine, idle=IDLE, lifetime=LIFETIME
    )


def _logged_in(sessions: WebSessions, session: Session) -> str:
    web, cookie = sessions.start(session, now=T0)
    web.user_id, web.access_token, web.refresh_token = "u-1", "access-secret", "refresh-secret"
    web.progress["next"] = "/documents"
    sessions.save(session, web, now=T0)
    return cookie


def test_the_cookie_is_256_random_bits_and_only_its_hash_is_stored(
    sessions: WebSessions, session: Session
) -> None:
    web, cookie = sessions.start(session, now=T0)
    _, other_cookie = sessions.start(session, now=T0)
    assert len(cookie) == 43
    assert cookie != other_cookie
    row = session.exec(select(Row).where(Row.id_hash == web.id_hash)).one()
    assert row.id_hash == hashlib.sha256(cookie.encode()).hexdigest()
    assert cookie.encode() not in repr(row.model_dump()).encode()
    assert web.csrf_token == csrf_token_for(cookie) != cookie


def test_the_data_is_sealed_not_stored_in_the_clear(
    sessions: WebSessions, session: Session
) -> None:
    cookie = _logged_in(sessions, session)
    row = session.exec(select(Row)).one()
    assert b"access-secret" not in row.sealed_data
    assert b"refresh-secret" not in row.sealed_data
    loaded = sessions.load(session, cookie, now=T0)
    assert loaded is not None
    assert (loaded.user_id, loaded.access_token, loaded.refresh_token) == (
        "u-1",
        "access-secret",
        "refresh-secret",
    )
    assert loaded.progress == {"next": "/documents"}


def test_sealed_data_moved_to_another_session_opens_nothing(
    sessions: WebSessions, session: Session
) -> None:
    _logged_in(sessions, session)
    _, empty_cookie = sessions.start(session, now=T0)
    rows = session.exec(select(Row)).all()
    full = next(r for r in rows if r.user_id == "u-1")
    empty = next(r for r in rows if r.user_id is None)
    empty.sealed_data, empty.key_id = full.sealed_data, full.key_id
    session.add(empty)
    session.flush()
    assert sessions.load(session, empty_cookie, now=T0) is None


@pytest.mark.parametrize("value", [None, "", "short", "x" * 43 + "=", "é" * 43, "a" * 44])
def test_a_cookie_of_the_wrong_shape_is_not_looked_up(
    sessions: WebSessions, session: Session, value: str | None
) -> None:
    assert sessions.load(session, value, now=T0) is None


def test_an_unknown_id_opens_nothing(sessions: WebSessions, session: Session) -> None:
    assert sessions.load(session, "A" * 43, now=T0) is None


def test_idle_expiry(sessions: WebSessions, session: Session) -> None:
    cookie = _logged_in(sessions, session)
    assert sessions.load(session, cookie, now=T0 + IDLE - timedelta(seconds=1)) is not None
    assert sessions.load(session, cookie, now=T0 + IDLE) is None
    assert session.exec(select(Row)).all() == []  # an ended session is deleted when met


def test_use_restarts_the_idle_clock(sessions: WebSessions, session: Session) -> None:
    cookie = _logged_in(sessions, session)
    web = sessions.load(session, cookie, now=T0 + timedelta(minutes=10))
    assert web is not None
    sessions.save(session, web, now=T0 + timedelta(minutes=10))
    assert sessions.load(session, cookie, now=T0 + timedelta(minutes=20)) is not None


def test_absolute_expiry_however_used(sessions: WebSessions, session: Session) -> None:
    cookie = _logged_in(sessions, session)
    now = T0
    while now + timedelta(minutes=10) < T0 + LIFETIME:
        now += timedelta(minutes=10)
        web = sessions.load(session, cookie, now=now)
        assert web is not None, now
        sessions.save(session, web, now=now)
    assert sessions.load(session, cookie, now=T0 + LIFETIME) is None


def test_rotation_keeps_the_data_and_kills_the_old_id(
    sessions: WebSessions, session: Session
) -> None:
    cookie = _logged_in(sessions, session)
    web = sessions.load(session, cookie, now=T0)
    assert web is not None
    later = T0 + timedelta(minutes=5)
    rotated, new_cookie = sessions.rotate(session, web, now=later)
    assert new_cookie != cookie
    assert rotated.csrf_token != web.csrf_token
    assert sessions.load(session, cookie, now=later) is None
    again = sessions.load(session, new_cookie, now=later)
    assert again is not None
    assert (again.user_id, again.access_token, again.refresh_token, again.progress) == (
        "u-1",
        "access-secret",
        "refresh-secret",
        {"next": "/documents"},
    )
    assert again.expires_at == later + LIFETIME  # the login starts the absolute lifetime


def test_end_is_server_side(sessions: WebSessions, session: Session) -> None:
    cookie = _logged_in(sessions, session)
    web = sessions.load(session, cookie, now=T0)
    assert web is not None
    sessions.end(session, web)
    assert sessions.load(session, cookie, now=T0) is None
    with pytest.raises(LookupError):
        sessions.save(session, web, now=T0)


def test_an_unchanged_session_is_not_sealed_again(sessions: WebSessions, session: Session) -> None:
    cookie = _logged_in(sessions, session)
    before = session.exec(select(Row)).one().sealed_data
    web = sessions.load(session, cookie, now=T0)
    assert web is not None
    sessions.save(session, web, now=T0 + timedelta(minutes=1))
    assert session.exec(select(Row)).one().sealed_data == before
    web.access_token = "access-2"
    sessions.save(session, web, now=T0 + timedelta(minutes=2))
    assert session.exec(select(Row)).one().sealed_data != before


def test_purge_deletes_only_ended_sessions(sessions: WebSessions, session: Session) -> None:
    _logged_in(sessions, session)
    _, fresh = sessions.start(session, now=T0 + timedelta(minutes=14))
    assert sessions.purge(session, now=T0 + IDLE) == 1
    assert sessions.load(session, fresh, now=T0 + IDLE) is not None
