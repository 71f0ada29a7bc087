"""The revocation list in memory (decision 0036): another replica's revocation shows within
``REVOCATION_TTL`` seconds and not later, this process's own at once, and only tokens that have
not expired are held.

The clock is injected, so the tests say exactly when a change shows without waiting for it; a
revocation "on another replica" is written with a Core ``INSERT``, which, like a write from
another process, raises no event in this one. Across two real ``ketenhub serve`` processes:
``tests/security/test_api2_disabled_parties.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from auth.models import RevokedToken
from hub.core import db
from hub.tokens.revocations import REVOCATION_BOUND, REVOCATION_TTL, RevokedTokens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _row(jti: str, *, expires_in: timedelta = timedelta(minutes=30)) -> dict[str, object]:
    now = datetime.now(UTC)
    return {"jti": jti, "client_id": "demo-iom", "expires_at": now + expires_in, "revoked_at": now}


def _revoked_elsewhere(engine: Engine, jti: str, **kwargs: timedelta) -> None:
    with db.transaction(engine) as session:
        session.execute(insert(RevokedToken).values(**_row(jti, **kwargs)))


def test_the_bound_leaves_room_for_a_read() -> None:
    assert 0 < REVOCATION_TTL <= REVOCATION_BOUND - 1.0
    assert REVOCATION_BOUND <= 2.0


def test_another_replicas_revocation_shows_after_the_ttl_and_not_before(
    migrated_engine: Engine,
) -> None:
    clock = Clock()
    revoked = RevokedTokens(migrated_engine, monotonic=clock)
    assert not revoked("jti-1")
    _revoked_elsewhere(migrated_engine, "jti-1")
    clock.now += REVOCATION_TTL - 0.01
    assert not revoked("jti-1")  # a cache: the list is not read on every request
    clock.now += 0.01
    assert revoked("jti-1")
    assert not revoked("jti-2")


def test_a_revocation_committed_in_this_process_shows_at_once(migrated_engine: Engine) -> None:
    clock = Clock()
    revoked = RevokedTokens(migrated_engine, monotonic=clock)
    other = RevokedTokens(migrated_engine, monotonic=clock)  # another app in the same process
    assert not revoked("jti-here")
    assert not other("jti-here")
    with db.transaction(migrated_engine) as session:
        session.add(RevokedToken(**_row("jti-here")))  # type: ignore[arg-type]
    assert revoked("jti-here")  # no time has passed
    assert other("jti-here")


def test_a_revocation_rolled_back_is_not_held(migrated_engine: Engine) -> None:
    clock = Clock()
    revoked = RevokedTokens(migrated_engine, monotonic=clock)
    with db.transaction(migrated_engine) as session:
        assert not revoked("jti-undone")
        session.add(RevokedToken(**_row("jti-undone")))  # type: ignore[arg-type]
        session.flush()
        session.rollback()
    clock.now += REVOCATION_TTL
    assert not revoked("jti-undone")


def test_only_tokens_not_yet_expired_are_held(migrated_engine: Engine) -> None:
    """Memory stays bounded by the tokens revoked within a token's lifetime: a row whose token
    expired (beyond the validator's leeway and a minute) is not loaded; the validator refuses
    that token by its ``exp``."""
    _revoked_elsewhere(migrated_engine, "jti-old", expires_in=timedelta(minutes=-5))
    _revoked_elsewhere(migrated_engine, "jti-live")
    revoked = RevokedTokens(migrated_engine, monotonic=Clock())
    assert revoked("jti-live")
    assert not revoked("jti-old")
    assert revoked._revoked == frozenset({"jti-live"})


def test_invalidate_loads_afresh(migrated_engine: Engine) -> None:
    clock = Clock()
    revoked = RevokedTokens(migrated_engine, monotonic=clock)
    assert not revoked("jti-3")
    _revoked_elsewhere(migrated_engine, "jti-3")
    revoked.invalidate()
    assert revoked("jti-3")
