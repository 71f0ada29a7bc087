"""What a person's login issued, and how all of it is ended at once: refresh-token families.

A login (one exchanged authorization code) starts a *family* of refresh tokens. Each refresh
uses the family's current token once and adds the next one (rotation, RFC 9700 §4.14.2); the
family ends at the login's absolute lifetime whatever the rotations. Every member records the
access token issued with it, so that ending the family also puts those access tokens on the deny
list (:class:`~auth.models.RevokedToken`) that every replica reads: a stolen refresh token that
is used after its owner used it, or a replayed authorization code, ends the thief's access and
the owner's alike, and the owner logs in again.

Tokens and codes are stored as their SHA-256 only: they are 256-bit random values the hub made,
so a slow hash would add nothing, and a database reader cannot redeem one.

"Use once" is one conditional ``UPDATE … WHERE used_at IS NULL``: of two concurrent uses,
exactly one changes the row (:func:`claim`). Services only flush: nothing here commits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import CursorResult, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from auth.models import AuthorizationCode, RefreshToken, RevokedToken

TOKEN_BYTES: Final = 32
MAX_PRESENTED_LENGTH: Final = 512
"""A code or refresh token longer than this is no code of the hub's, and is not looked up."""


def hash_token(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_family() -> str:
    return secrets.token_hex(16)


def claim(session: Session, row: AuthorizationCode | RefreshToken, *, now: datetime) -> bool:
    """Mark ``row`` used, if nobody has and it has not expired or been revoked; whether this
    call did. The row is reloaded either way, so the caller sees who won."""
    if isinstance(row, AuthorizationCode):
        statement = update(AuthorizationCode).where(
            AuthorizationCode.code_hash == row.code_hash,  # type: ignore[arg-type]
            AuthorizationCode.used_at.is_(None),  # type: ignore[union-attr]
            AuthorizationCode.expires_at > now,  # type: ignore[arg-type]
        )
    else:
        statement = update(RefreshToken).where(
            RefreshToken.token_hash == row.token_hash,  # type: ignore[arg-type]
            RefreshToken.used_at.is_(None),  # type: ignore[union-attr]
            RefreshToken.revoked_at.is_(None),  # type: ignore[union-attr]
            RefreshToken.expires_at > now,  # type: ignore[arg-type]
        )
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        statement.values(used_at=now).execution_options(synchronize_session=False)
    )
    session.refresh(row)
    return result.rowcount == 1


def add_member(
    session: Session,
    *,
    refresh_token: str,
    family: str,
    client_id: str,
    user_id: str,
    scope: str,
    family_issued_at: datetime,
    expires_at: datetime,
    access_jti: str,
    access_expires_at: datetime,
    now: datetime,
) -> None:
    """Store a family's next refresh token (by its hash) and the access token issued with it."""
    session.add(
        RefreshToken(
            token_hash=hash_token(refresh_token),
            family=family,
            client_id=client_id,
            user_id=user_id,
            scope=scope,
            family_issued_at=family_issued_at,
            created_at=now,
            expires_at=expires_at,
            access_jti=access_jti,
            access_expires_at=access_expires_at,
        )
    )
    session.flush()


def revoke_family(session: Session, family: str, *, now: datetime) -> None:
    """End a login: every refresh token of ``family``, and the access tokens issued with them
    that have not expired yet."""
    members = session.exec(select(RefreshToken).where(RefreshToken.family == family)).all()
    session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.family == family,  # type: ignore[arg-type]
            RefreshToken.revoked_at.is_(None),  # type: ignore[union-attr]
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    deny(
        session,
        ((m.access_jti, m.client_id, m.access_expires_at) for m in members),
        now=now,
    )


def revoke_code(session: Session, code: AuthorizationCode, *, now: datetime) -> None:
    """A used code came back: end what its first use issued (RFC 6749 §4.1.2)."""
    if code.refresh_family is not None:
        revoke_family(session, code.refresh_family, now=now)
    if code.access_jti is not None and code.access_expires_at is not None:
        deny(session, [(code.access_jti, code.client_id, code.access_expires_at)], now=now)


def deny(session: Session, tokens: Iterable[tuple[str, str, datetime]], *, now: datetime) -> None:
    """Put access tokens ``(jti, client_id, expires_at)`` on the deny list, unless expired or
    there already."""
    for jti, client_id, expires_at in tokens:
        if as_utc(expires_at) <= now or session.get(RevokedToken, jti) is not None:
            continue
        try:
            with session.begin_nested():
                session.add(
                    RevokedToken(
                        jti=jti, client_id=client_id, expires_at=expires_at, revoked_at=now
                    )
                )
        except IntegrityError:
            pass  # revoked by a concurrent request meanwhile: the outcome is the same


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time the hub stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class IssuedClaims:
    """What the hub records about an access token it has just signed."""

    jti: str
    expires_at: datetime


def issued_claims(access_token: str) -> IssuedClaims:
    """``jti`` and ``exp`` of a token the hub has just signed itself (so its payload needs no
    verifying); never for a token someone presented."""
    payload = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return IssuedClaims(str(claims["jti"]), datetime.fromtimestamp(claims["exp"], UTC))
