"""The authorization server's login steps, without HTTP: what each step does with its form.

:class:`LoginSteps` is built per request around the request's transaction; the pages
(:mod:`hub.login.authorize`) keep the :class:`~hub.login.progress.Authorization` it returns in
the web session. It calls the accounts service for every check (which throttles, counts and
records each attempt itself, and whose refusals, :class:`~hub.accounts.service.LoginRefused`,
pass through unchanged) and the authorization server for the protocol
(:meth:`~hub.tokens.service.OAuthService.validate_authorization`,
:meth:`~hub.tokens.service.OAuthService.issue_code`, whose
:class:`~auth.code_grant.AuthorizeError` passes through too).

A code is issued only from :meth:`Authorization.ready_for_code
<hub.login.progress.Authorization.ready_for_code>`: after a password *and* a code, or a
password and a factor enrolled with a code. The person is looked up again at that moment, so one
disabled between the steps gets no code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from sqlmodel import Session

from auth.code_grant import AuthorizeError
from hub.accounts.factors import qr_svg
from hub.accounts.service import Accounts, LoginRefused
from hub.login.progress import Authorization
from hub.tokens.service import OAuthService
from hub.trail.context import Context


@dataclass(frozen=True, slots=True)
class ShownKey:
    """The key being enrolled, as the enrolment page shows it: text and a QR code (SVG)."""

    secret: str
    qr_svg: str

    @classmethod
    def of(cls, uri: str) -> ShownKey:
        """From the key's ``otpauth://`` URI (the one form the progress keeps)."""
        secret = parse_qs(urlsplit(uri).query).get("secret", [""])[0]
        return cls(secret, qr_svg(uri))


@dataclass(frozen=True, slots=True)
class Enrolled:
    """The factor is set up: the progress, and the recovery codes to show this once."""

    progress: Authorization
    recovery_codes: Sequence[str]


class LoginSteps:
    """The steps of one request (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        *,
        accounts: Accounts,
        oauth: OAuthService,
        context: Context,
        now: datetime,
    ) -> None:
        self._session = session
        self._accounts = accounts
        self._oauth = oauth
        self._context = context
        self._now = now

    def begin(self, query: Sequence[tuple[str, str]], headers: Mapping[str, str]) -> Authorization:
        """A new authorization request, validated; raises :class:`AuthorizeError`."""
        request = self._oauth.validate_authorization(
            self._session, self._oauth.authorization_request(query, headers)
        )
        return Authorization.begin(request, now=self._now)

    def password(self, progress: Authorization, *, username: str, password: str) -> Authorization:
        """The password step; raises :class:`LoginRefused`."""
        progress.expect("password")
        ok = self._accounts.check_password(
            self._session, username=username, password=password, context=self._context
        )
        return progress.password_accepted(user_id=ok.person.user_id, enrolled=ok.enrolled)

    def key(self, progress: Authorization) -> tuple[Authorization, ShownKey]:
        """The key to enrol: the one shown before, or a new one (kept in the progress)."""
        if progress.enrolment_uri is not None:
            return progress, ShownKey.of(progress.enrolment_uri)
        user_id = progress.ready_to_enrol()
        enrolment = self._accounts.begin_enrolment(self._session, user_id=user_id)
        return progress.enrolling(enrolment.provisioning_uri), ShownKey(
            enrolment.secret_base32, enrolment.qr_svg
        )

    def confirm(self, progress: Authorization, *, code: str) -> Enrolled:
        """The first code of the new factor; raises :class:`LoginRefused`."""
        progress.expect("enrol")
        codes = self._accounts.confirm_enrolment(
            self._session, user_id=progress.ready_to_enrol(), code=code, context=self._context
        )
        return Enrolled(progress.factor_enrolled(), codes)

    def factor(self, progress: Authorization, *, code: str) -> str:
        """The second factor (TOTP or a recovery code); the URL to send the browser to, with
        its code. Raises :class:`LoginRefused` or :class:`AuthorizeError`."""
        progress.expect("factor")
        person = self._accounts.check_code(
            self._session, user_id=progress.ready_for_code(), code=code, context=self._context
        )
        return self._oauth.issue_code(self._session, progress.request, person)

    def finish(self, progress: Authorization) -> str:
        """After the recovery codes were shown: the URL with the code. Raises
        :class:`LoginRefused` (the person was disabled meanwhile) or :class:`AuthorizeError`."""
        progress.expect("enrolled")
        person = self._accounts.person(self._session, progress.ready_for_code())
        if person is None:
            raise LoginRefused
        return self._oauth.issue_code(self._session, progress.request, person)


__all__ = ["AuthorizeError", "Enrolled", "LoginRefused", "LoginSteps", "ShownKey"]
