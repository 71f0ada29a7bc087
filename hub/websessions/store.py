"""Web sessions: a random id in the browser's cookie, everything else on the server.

Wire and storage format:

- **The id** is 256 random bits, base64url without padding (43 characters): the cookie's whole
  value. The table keeps only ``SHA-256(id)`` (hex), so neither a copy of the table nor a log
  of it opens a session; a value of any other shape is not looked up at all.
- **The data** (:class:`WebSession`: the logged-in person's user id and tokens, and the login
  flow's progress) is one JSON document encrypted under the session's own key, derived from the
  web-session key the row names (:mod:`hub.websessions.keys`): a row's data opens only in its
  own row, and only with the web-session key, which only the master key file unseals. The KEK
  ring is not used per session, so no visitor spends its nonce budget. The data is encrypted
  again only when it changed, so an ordinary page view writes one timestamp.
- **Expiry**: a session ends ``idle`` seconds after its last use and ``lifetime`` seconds after
  it started, whichever comes first (settings ``KETENHUB_SESSION_IDLE``, 15 minutes, and
  ``KETENHUB_SESSION_LIFETIME``, 8 hours). An ended session is deleted when met; the rest by
  :meth:`WebSessions.purge`. The clock is always passed in.
- **Rotation** (:meth:`WebSessions.rotate`, at login): a new id with the same data; the old
  row is deleted in the same transaction, so the id a page held before login (and the CSRF
  token derived from it) is dead. The absolute lifetime starts again: login is when the
  person's session starts, and the refresh token issued with it lives as long.

A session before login exists only for the login flow (its CSRF token and progress); nothing
else is kept for a visitor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine
from sqlmodel import Session

from hub.core import db
from hub.core.db import as_utc
from hub.tables.web_sessions import WebSession as WebSessionRow
from hub.websessions import repository
from hub.websessions.keys import WebSessionKeys, open_data, seal_data
from storage.errors import IntegrityError

_ID_BYTES: Final = 32
_ID_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{43}")
_FORMAT: Final = 1


_CSRF_LABEL: Final = b"ketenhub-csrf/1"


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def csrf_token_for(session_id: str) -> str:
    """The synchronizer token of the session whose id is ``session_id`` (:mod:`hub.ui.csrf`)::

    base64url(HMAC-SHA256(key = session id, msg = "ketenhub-csrf/1"))
    """
    digest = hmac.new(session_id.encode("ascii"), _CSRF_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(slots=True)
class WebSession:
    """One browser's session, as a request sees it. Change the fields, then
    :meth:`WebSessions.save`.

    ``progress`` is the login flow's own (pending OAuth ``state``, PKCE verifier, target path,
    the user id whose password was verified and who owes the second factor): JSON values under
    keys the flow names. ``csrf_token`` is derived from the id (:mod:`hub.ui.csrf`) and
    never stored.
    """

    id_hash: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    user_id: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    _sealed_as: bytes = field(default=b"", repr=False)

    def _document(self) -> bytes:
        return json.dumps(
            {
                "v": _FORMAT,
                "user_id": self.user_id,
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "progress": self.progress,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")

    @property
    def logged_in(self) -> bool:
        return self.user_id is not None and self.access_token is not None


class WebSessions:
    """The sessions of every replica, in the database (``services.web_sessions``).

    ``keys`` are the web-session keys (one per process: it caches them); ``engine`` is the
    database they are read from, through its read-only pool, when the cache is stale.
    """

    def __init__(
        self,
        *,
        keys: WebSessionKeys,
        engine: Engine,
        idle: timedelta,
        lifetime: timedelta,
    ) -> None:
        self._keys = keys
        self._engine = engine
        self.idle = idle
        self.lifetime = lifetime

    # -- the lifecycle -----------------------------------------------------------------------

    def load(
        self, session: Session, cookie_value: str | None, *, now: datetime
    ) -> WebSession | None:
        """The live session the cookie names; ``None`` for no cookie, a value of the wrong
        shape, an unknown id, or an ended session (which is deleted)."""
        if cookie_value is None or not _ID_SHAPE.fullmatch(cookie_value):
            return None
        id_hash = _hash(cookie_value)
        row = repository.get(session, id_hash)
        if row is None:
            return None
        if self._ended(row, now):
            repository.remove(session, id_hash)
            return None
        return self._from_row(session, row, csrf_token_for(cookie_value))

    def locked(self, session: Session, web: WebSession, *, now: datetime) -> WebSession | None:
        """``web`` as stored now, its row locked for the rest of ``session``'s transaction (for
        a token refresh: a second request of the same browser waits, then finds the new
        tokens instead of spending the rotated refresh token again); ``None`` if it ended."""
        row = repository.get_for_update(session, web.id_hash)
        if row is None or self._ended(row, now):
            return None
        return self._from_row(session, row, web.csrf_token)

    def start(self, session: Session, *, now: datetime) -> tuple[WebSession, str]:
        """A new, empty session (before login); returns it and the cookie's value."""
        cookie_value = _new_id()
        web = WebSession(
            id_hash=_hash(cookie_value),
            csrf_token=csrf_token_for(cookie_value),
            created_at=now,
            expires_at=now + self.lifetime,
            last_seen_at=now,
        )
        self._insert(session, web)
        return web, cookie_value

    def rotate(self, session: Session, web: WebSession, *, now: datetime) -> tuple[WebSession, str]:
        """The same data under a new id (at login); the old id ends now."""
        repository.remove(session, web.id_hash)
        cookie_value = _new_id()
        rotated = WebSession(
            id_hash=_hash(cookie_value),
            csrf_token=csrf_token_for(cookie_value),
            created_at=now,
            expires_at=now + self.lifetime,
            last_seen_at=now,
            user_id=web.user_id,
            access_token=web.access_token,
            refresh_token=web.refresh_token,
            progress=dict(web.progress),
        )
        self._insert(session, rotated)
        return rotated, cookie_value

    def save(self, session: Session, web: WebSession, *, now: datetime) -> None:
        """Record the session's use at ``now`` and its data, sealed again if it changed."""
        row = repository.get(session, web.id_hash)
        if row is None:
            raise LookupError("the session ended while the request used it")
        row.last_seen_at = web.last_seen_at = now
        row.user_id = web.user_id
        document = web._document()
        if document != web._sealed_as:
            row.key_id, row.sealed_data = self._seal(session, web.id_hash, document)
            web._sealed_as = document
        session.add(row)
        session.flush()

    def end(self, session: Session, web: WebSession) -> None:
        """End the session server-side: its id opens nothing from now on."""
        repository.remove(session, web.id_hash)

    def purge(self, session: Session, *, now: datetime) -> int:
        """Delete every ended session, then every rotated-out web-session key no session
        needs any more; returns how many sessions."""
        ended = repository.remove_ended(session, now=now, idle_since=now - self.idle)
        self._keys.prune(session, now=now)
        return ended

    # -- internals ---------------------------------------------------------------------------

    def _committed(self) -> Session:
        return Session(db.read_only(self._engine))

    def _from_row(self, session: Session, row: WebSessionRow, csrf_token: str) -> WebSession | None:
        secret = self._keys.for_opening(session, self._committed, row.key_id)
        if secret is None:
            return None
        try:
            document = open_data(secret, row.key_id, row.id_hash, row.sealed_data)
        except IntegrityError:
            # A row that does not open (moved to another id, edited) opens nothing.
            return None
        data = json.loads(document)
        web = WebSession(
            id_hash=row.id_hash,
            csrf_token=csrf_token,
            created_at=as_utc(row.created_at),
            expires_at=as_utc(row.expires_at),
            last_seen_at=as_utc(row.last_seen_at),
            user_id=data.get("user_id"),
            access_token=data.get("access_token"),
            refresh_token=data.get("refresh_token"),
            progress=dict(data.get("progress") or {}),
        )
        web._sealed_as = document
        return web

    def _ended(self, row: WebSessionRow, now: datetime) -> bool:
        return now >= as_utc(row.expires_at) or now >= as_utc(row.last_seen_at) + self.idle

    def _seal(self, session: Session, id_hash: str, document: bytes) -> tuple[str, bytes]:
        key_id, secret = self._keys.for_sealing(session, self._committed)
        return key_id, seal_data(secret, key_id, id_hash, document)

    def _insert(self, session: Session, web: WebSession) -> None:
        document = web._document()
        key_id, sealed = self._seal(session, web.id_hash, document)
        web._sealed_as = document
        repository.add(
            session,
            WebSessionRow(
                id_hash=web.id_hash,
                created_at=web.created_at,
                last_seen_at=web.last_seen_at,
                expires_at=web.expires_at,
                user_id=web.user_id,
                key_id=key_id,
                sealed_data=sealed,
            ),
        )


def _new_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(_ID_BYTES)).rstrip(b"=").decode("ascii")
