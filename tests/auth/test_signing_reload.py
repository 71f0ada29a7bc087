"""Reloading the signing keys (every ``cache_seconds``) keeps the keys it has already parsed.

Every token check asks for the published keys; when the snapshot is older than
``cache_seconds`` the check that finds it so reloads it under the lock, and all others wait. Parsing
a private RSA key checks it (tens of milliseconds), so a reload reuses, by ``kid``, the keys of
the last snapshot and unseals and parses only keys it has not seen (decision 0036). A rotation
is still seen by the next reload, on every replica.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from auth.signing import SigningKeys
from hub.core import db
from hub.keys.signing import KeyRingSealer
from storage.keys import LocalKeyRing


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingSealer(KeyRingSealer):
    """The hub's own sealer over a real key ring, counting what it unseals."""

    def __init__(self, ring: LocalKeyRing) -> None:
        super().__init__(ring)
        self.unsealed = 0

    def unseal(self, kek_id: str, sealed: bytes, *, purpose: str) -> bytes:
        self.unsealed += 1
        return super().unseal(kek_id, sealed, purpose=purpose)


def _keys(engine: Engine, tmp_path: Path) -> tuple[SigningKeys, CountingSealer, Clock]:
    sealer = CountingSealer(LocalKeyRing.create(tmp_path / "keys.json"))
    clock = Clock()
    keys = SigningKeys(
        sessions=lambda: db.transaction(engine),
        sealer=sealer,
        alg="ES256",
        cache_seconds=5.0,
        monotonic=clock,
    )
    with db.transaction(engine) as session:
        keys.ensure(session)
    return keys, sealer, clock


def test_a_reload_keeps_the_keys_it_already_parsed(migrated_engine: Engine, tmp_path: Path) -> None:
    keys, sealer, clock = _keys(migrated_engine, tmp_path)
    signing, _ = keys.signing_key()
    published = list(keys.published())
    assert sealer.unsealed == 1
    clock.now += 5.0  # the snapshot is stale: the next question reloads it
    again, _ = keys.signing_key()
    assert again is signing
    assert all(a is b for a, b in zip(keys.published(), published, strict=True))
    assert sealer.unsealed == 1  # the private key was not unsealed and parsed again


def test_a_rotation_is_seen_by_the_next_reload(migrated_engine: Engine, tmp_path: Path) -> None:
    keys, sealer, clock = _keys(migrated_engine, tmp_path)
    old, _ = keys.signing_key()
    rotating = SigningKeys(  # another replica, which rotates
        sessions=lambda: db.transaction(migrated_engine),
        sealer=sealer,
        alg="ES256",
        monotonic=clock,
    )
    with db.transaction(migrated_engine) as session:
        new_kid = rotating.rotate(session).kid
    assert keys.signing_key()[0] is old  # within cache_seconds: the snapshot stands
    clock.now += 5.0
    new, _ = keys.signing_key()
    assert new.kid == new_kid
    assert {k.kid for k in keys.published()} == {new_kid, old.kid}
    assert sealer.unsealed == 2  # the new key only
