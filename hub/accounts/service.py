"""The accounts service: checking passwords and codes, enrolment, and administering people.

(skeleton: the signatures the login flow builds against; filled in by the next commits)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from auth.people import Person, Role
from hub.core.errors import HubError
from hub.trail.context import Context


class LoginRefused(HubError):
    """One message for an unknown user, a wrong password or code, a disabled or locked account.

    ``retry_after`` is set (seconds) when the attempt was throttled: try again after that long.
    """

    default_status = 401
    slug = "login-refused"

    def __init__(self, *, retry_after: float | None = None) -> None:
        super().__init__("The username, password or code is not right, or the account is locked.")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class PasswordOk:
    person: Person
    enrolled: bool
    """Whether the person has a second factor already (else: enrolment comes next)."""


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret_base32: str
    provisioning_uri: str
    qr_svg: str


@dataclass(frozen=True, slots=True)
class NewUser:
    person: Person
    link_token: str


class Accounts:
    def check_password(
        self, session: Session, *, username: str, password: str, context: Context
    ) -> PasswordOk:
        raise NotImplementedError

    def begin_enrolment(self, session: Session, *, user_id: str) -> Enrolment:
        raise NotImplementedError

    def confirm_enrolment(
        self, session: Session, *, user_id: str, code: str, context: Context
    ) -> list[str]:
        raise NotImplementedError

    def check_code(self, session: Session, *, user_id: str, code: str, context: Context) -> Person:
        raise NotImplementedError

    def change_password(
        self,
        session: Session,
        *,
        user_id: str,
        old_password: str,
        new_password: str,
        code: str,
        context: Context,
    ) -> None:
        raise NotImplementedError

    def redeem_action_token(
        self, session: Session, *, token: str, new_password: str, context: Context
    ) -> Person:
        raise NotImplementedError

    def person(self, session: Session, user_id: str) -> Person | None:
        raise NotImplementedError

    def add_user(
        self,
        session: Session,
        *,
        organisation: str,
        username: str,
        roles: Sequence[Role],
        processing_activity: str,
        context: Context,
    ) -> NewUser:
        raise NotImplementedError
