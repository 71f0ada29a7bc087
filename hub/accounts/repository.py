"""Queries on the people's tables: accounts, recovery codes, throttles and one-time links."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from auth.models import UserAccount, UserActionToken, UserLoginThrottle, UserRecoveryCode


def get(session: Session, user_id: str) -> UserAccount | None:
    return session.get(UserAccount, user_id)


def lock(session: Session, user_id: str) -> UserAccount | None:
    """The account, read afresh and locked until the transaction ends (``SELECT ... FOR
    UPDATE``; SQLite's writer lock serialises anyway): what a check read before it waited for
    the throttle's lock may have been changed meanwhile by an attempt on another replica (the
    last TOTP step used, the factor enrolled)."""
    return session.get(UserAccount, user_id, with_for_update=True, populate_existing=True)


def get_by_username(session: Session, username: str) -> UserAccount | None:
    return session.exec(select(UserAccount).where(col(UserAccount.username) == username)).first()


def list_all(session: Session, *, organisation: str | None = None) -> Sequence[UserAccount]:
    statement = select(UserAccount).order_by(col(UserAccount.username))
    if organisation is not None:
        statement = statement.where(col(UserAccount.organisation) == organisation)
    return session.exec(statement).all()


def count_by_organisation(session: Session) -> dict[str, int]:
    """How many accounts each organisation has (enabled or not), by code."""
    statement = select(UserAccount.organisation, func.count()).group_by(
        col(UserAccount.organisation)
    )
    return dict(session.exec(statement).all())


def insert(session: Session, account: UserAccount) -> bool:
    """Insert ``account``; ``False`` when its username is taken (also by a concurrent insert:
    the insert runs in a savepoint, so the caller's transaction stays usable)."""
    if get_by_username(session, account.username) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(account)
    except IntegrityError:
        return False
    return True


# -- recovery codes ------------------------------------------------------------------------------


def replace_recovery_codes(session: Session, user_id: str, hashes: Sequence[str]) -> None:
    delete_recovery_codes(session, user_id)
    session.add_all(UserRecoveryCode(user_id=user_id, code_hash=h) for h in hashes)
    session.flush()


def delete_recovery_codes(session: Session, user_id: str) -> None:
    session.execute(delete(UserRecoveryCode).where(col(UserRecoveryCode.user_id) == user_id))


def use_recovery_code(session: Session, user_id: str, code_hash: str, *, now: datetime) -> bool:
    """Mark the unused code ``code_hash`` used; ``False`` when there is none. The row is locked
    first, so two replicas cannot both accept one code."""
    statement = (
        select(UserRecoveryCode)
        .where(
            col(UserRecoveryCode.user_id) == user_id,
            col(UserRecoveryCode.code_hash) == code_hash,
            col(UserRecoveryCode.used_at).is_(None),
        )
        .with_for_update()
    )
    row = session.exec(statement).first()
    if row is None:
        return False
    row.used_at = now
    session.add(row)
    session.flush()
    return True


def unused_recovery_codes(session: Session, user_id: str) -> int:
    statement = select(UserRecoveryCode).where(
        col(UserRecoveryCode.user_id) == user_id, col(UserRecoveryCode.used_at).is_(None)
    )
    return len(session.exec(statement).all())


# -- throttles -----------------------------------------------------------------------------------


def lock_throttle(session: Session, subject: str) -> UserLoginThrottle:
    """The throttle row of ``subject``, created when missing, locked for this transaction
    (``SELECT ... FOR UPDATE``; SQLite's writer lock serialises anyway), so concurrent attempts
    on one name or address take turns and none slips past a count another is raising."""
    statement = (
        select(UserLoginThrottle)
        .where(col(UserLoginThrottle.subject) == subject)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = session.exec(statement).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(UserLoginThrottle(subject=subject, failures=0))
    except IntegrityError:
        pass  # a concurrent attempt created it first
    row = session.exec(statement).first()
    assert row is not None  # noqa: S101 - inserted above, or by the attempt that won
    return row


def clear_throttle(session: Session, subject: str) -> bool:
    """Forget ``subject``'s failures and lock; ``True`` when it had any."""
    row = session.get(UserLoginThrottle, subject)
    if row is None:
        return False
    had = row.failures > 0 or row.locked_at is not None
    session.delete(row)
    session.flush()
    return had


def get_throttle(session: Session, subject: str) -> UserLoginThrottle | None:
    return session.get(UserLoginThrottle, subject)


# -- one-time links ------------------------------------------------------------------------------


def replace_action_token(session: Session, token: UserActionToken) -> None:
    """Store ``token`` as the user's only link: an earlier one, used or not, stops working."""
    session.execute(delete(UserActionToken).where(col(UserActionToken.user_id) == token.user_id))
    session.add(token)
    session.flush()


def delete_action_tokens(session: Session, user_id: str) -> None:
    session.execute(delete(UserActionToken).where(col(UserActionToken.user_id) == user_id))


def lock_action_token(session: Session, token_hash: str) -> UserActionToken | None:
    """The link with ``token_hash``, locked until the transaction ends: a second redemption on
    another replica waits, then finds it deleted (:func:`delete_action_tokens`)."""
    statement = (
        select(UserActionToken)
        .where(col(UserActionToken.token_hash) == token_hash)
        .with_for_update()
    )
    return session.exec(statement).first()


def ended(session: Session, *, since: datetime) -> Sequence[UserAccount]:
    """Accounts whose tokens ended: the disabled, and those reset or disabled after ``since``."""
    return session.exec(
        select(UserAccount).where(
            or_(
                col(UserAccount.enabled).is_(False),
                col(UserAccount.tokens_valid_after) > since,
            )
        )
    ).all()
