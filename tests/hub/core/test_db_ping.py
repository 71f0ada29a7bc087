"""A pooled PostgreSQL connection is pinged only when it rested (decision 0036).

``pool_pre_ping`` cost every request a round trip. The hub pings a connection on checkout only
when it rested :data:`hub.core.db.PING_AFTER_IDLE` seconds or more; a connection the server
dropped meanwhile is still replaced before any statement of the request's meets it.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from hub.core import db


@pytest.fixture
def engine(fresh_postgres_url: str) -> Iterator[Engine]:
    engine = db.make_engine(fresh_postgres_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        pid: int = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        return pid


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(connection: object) -> bool:
        pings.append(connection)
        return ping(connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_just_used_is_not_pinged(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 3600.0)
    pings = _pings(engine, monkeypatch)
    first = _backend(engine)
    assert [_backend(engine) for _ in range(5)] == [first] * 5
    assert pings == []


def test_a_connection_dropped_while_it_rested_is_replaced_before_use(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, fresh_postgres_url: str
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)  # every connection has rested long enough
    pings = _pings(engine, monkeypatch)
    dropped = _backend(engine)
    admin = make_url(fresh_postgres_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        # Waits (up to 5 s) until the backend is gone, so the ping cannot come before it.
        conn.execute("SELECT pg_terminate_backend(%s, 5000)", (dropped,))
    assert _backend(engine) != dropped  # no error: the ping found it gone, the pool replaced it
    assert len(pings) >= 1
