"""What the accounts tell the token service about people (a ``PersonLookup``).

The authorization server asks who a person is when it redeems a code or a refresh token, and the
token validator asks whose tokens ended; both are read from the user table. A person may be
granted tokens while their account and organisation are enabled; their tokens end for good at
``tokens_valid_after`` (set when an administrator disables them or resets their password or
factor) and, while they are disabled, all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session

from auth.code_grant import Grantee
from hub.accounts import repository
from hub.accounts.service import person_of
from hub.core import db
from hub.directory import organisations_repository as organisations
from hub.directory.clients import Ended


class AccountPeople:
    """:class:`~hub.tokens.people.PersonLookup` over the user table."""

    def grantee(self, session: Session, user_id: str) -> Grantee | None:
        account = repository.get(session, user_id)
        if (
            account is None
            or not account.enabled
            or not organisations.is_enabled(session, account.organisation)
        ):
            return None
        after = account.tokens_valid_after
        return Grantee(person_of(account), db.as_utc(after) if after is not None else None)

    def ended(self, session: Session, *, since: datetime) -> Mapping[str, Ended]:
        ended: dict[str, Ended] = {}
        for account in repository.ended(session, since=since):
            moments = [
                db.as_utc(moment)
                for moment in (account.disabled_at, account.tokens_valid_after)
                if moment is not None
            ]
            ended[account.user_id] = Ended(account.enabled, max(moments) if moments else None)
        return ended
