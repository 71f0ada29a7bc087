"""The accounts service: checking passwords and codes, enrolling the second factor, one-time
links, and administering people (the ``ketenhub user`` commands).

Every method works in the caller's session and only flushes. What a refused attempt leaves
behind, its count on the throttles and its audit event, is written through
:func:`hub.core.db.keep_refusal`, so it is kept although the caller then fails (a request's
transaction rolls its own work back and keeps the refusal). Each attempt locks its throttle rows
first, so attempts on one name take turns on every replica, and a check of a code then reads the
account again under its row lock (never what it read before it waited).

Exception tree (all :class:`~hub.core.errors.HubError`)::

    LoginRefused        401  unknown name, wrong password or code, disabled, throttled, locked:
                             one message for all; ``retry_after`` when it must wait
    LinkInvalid         404  an activation or reset link that is unknown, used or expired
    PasswordRejected    422  a new password that breaks the rules (the message says which)
    Unprocessable       422  an administrator's request that cannot be done (unknown
                             organisation, roles that clash, a username taken ...)
    OwnAccount          403  an administrator disabling, resetting or changing the roles of
                             their own account (recorded: nobody gives themselves a role)

What the trail records (decision 0022): every login step's success and failure, locks, unlocks,
enrolments and resets, password changes and resets, each use of a recovery code, and every
administrator's action, as ``user.*`` events about ``("user", user_id)``. A person's own attempt
has the person as actor; an attempt on a name without an account (or a malformed one) has the
actor id ``unknown``: a typed name is never recorded, for it may be a password typed in the
wrong field, and nothing typed as a password or code ever is.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlmodel import Session

from audit.events import Action, ActorType, Outcome
from auth import totp
from auth.models import UserAccount, UserActionToken
from auth.passwords import Passwords, check_password_rules
from auth.people import WEB_CLIENT_ID, Person, Role, check_roles
from hub.accounts import repository
from hub.accounts import throttle as throttling
from hub.accounts.factors import FactorSealer, qr_svg, recovery_key
from hub.accounts.throttle import ThrottlePolicy
from hub.core import db
from hub.core.db import as_utc
from hub.core.errors import Conflict, Forbidden, HubError, NotFound, Unprocessable
from hub.core.purposes import PROCESSING_ACTIVITIES
from hub.directory import organisations_repository as organisations
from hub.trail.auditor import Auditor
from hub.trail.context import Actor, Context
from hub.trail.recorder import NOTHING, About, Recorder
from storage.keys import KeyProvider

USERNAME: Final = re.compile(r"[a-z0-9._-]{3,64}")
ACTIVATION_LIFETIME: Final = timedelta(days=7)
RESET_LIFETIME: Final = timedelta(days=1)
ACTIVATE: Final = "activate"
RESET: Final = "reset"
_UNKNOWN: Final = "unknown"
_TOTP_LABEL: Final = "Ketenhub"


class LoginRefused(HubError):
    """One message for an unknown user, a wrong password or code, a disabled or locked account.

    ``retry_after`` is set (seconds) when the attempt was throttled, or this failure made the
    next one wait: try again after that long. ``None``: try again now.
    """

    default_status = 401
    slug = "login-refused"

    def __init__(self, *, retry_after: float | None = None) -> None:
        super().__init__("The username, password or code is not right, or the account is locked.")
        self.retry_after = retry_after


class LinkInvalid(NotFound):
    """An activation or reset link that is unknown, used, expired or of a disabled account."""

    slug = "link-invalid"

    def __init__(self) -> None:
        super().__init__("This link is not valid (any more); ask your administrator for a new one.")


class PasswordRejected(Unprocessable):
    """A new password that breaks the rules of :func:`auth.passwords.check_password_rules`."""

    slug = "password-rejected"


class OwnAccount(Forbidden):
    """A person administering their own account: changing their own roles, disabling or
    resetting themselves. Another administrator must (separation of duties: nobody gives
    themselves a role, and nobody locks the last door behind them by accident)."""

    slug = "own-account"


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
    """An ``<svg>`` element (segno), with no inline style or script."""


@dataclass(frozen=True, slots=True)
class NewUser:
    person: Person
    link_token: str
    """The activation link's token, shown once: ``<issuer>/account/activate/<token>``."""


@dataclass(frozen=True, slots=True)
class UserSummary:
    """A row of ``ketenhub user list``."""

    person: Person
    enabled: bool
    activated: bool
    enrolled: bool
    locked: bool

    @property
    def state(self) -> str:
        """``disabled``, ``locked``, ``awaiting activation`` (no password yet), ``awaiting
        factor`` (no second factor yet) or ``active``: the first that holds."""
        if not self.enabled:
            return "disabled"
        if self.locked:
            return "locked"
        if not self.activated:
            return "awaiting activation"
        if not self.enrolled:
            return "awaiting factor"
        return "active"


def one_time_link(issuer: str, purpose: str, token: str) -> str:
    """The address of a one-time link: ``<issuer>/account/activate/<token>`` (``ACTIVATE``) or
    ``<issuer>/account/reset/<token>`` (``RESET``). Shown once, never stored or logged."""
    return f"{issuer.rstrip('/')}/account/{purpose}/{token}"


def person_of(account: UserAccount) -> Person:
    return Person(
        user_id=account.user_id,
        username=account.username,
        organisation=account.organisation,
        roles=frozenset(Role(role) for role in account.roles.split()),
        processing_activity=account.processing_activity,
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class Accounts:
    """Built once per process from the services (``services.accounts``)."""

    def __init__(
        self,
        *,
        keys: KeyProvider,
        auditor: Auditor,
        passwords: Passwords | None = None,
        policy: ThrottlePolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sealer = FactorSealer(keys)
        self._auditor = auditor
        self.passwords = passwords or Passwords()
        self._policy = policy or ThrottlePolicy()
        self._clock = clock

    # -- logging in ------------------------------------------------------------------------------

    def check_password(
        self, session: Session, *, username: str, password: str, context: Context
    ) -> PasswordOk:
        """The password step. Equal work for an unknown name (a dummy argon2 verify); throttled
        per name and per address; a hash with old parameters is replaced on success."""
        now = self._clock()
        subjects = self._subjects(username, context)
        account = None
        name = username.strip().lower()
        if USERNAME.fullmatch(name):
            account = repository.get_by_username(session, name)
        self._wait_or_refuse(session, subjects, account, context, now=now)
        verified = self.passwords.verify(account.password_hash if account else None, password)
        if account is None or not verified or not self._usable(session, account):
            detail = "unknown user" if account is None else "wrong password"
            if account is not None and verified:
                detail = "account disabled"
            raise self._refuse(session, subjects, account, context, detail=detail, now=now)
        assert account.password_hash is not None  # noqa: S101 - it verified
        if self.passwords.needs_rehash(account.password_hash):
            account.password_hash = self.passwords.hash(password)
            session.add(account)
            session.flush()
        person = person_of(account)
        self._recorder(context, person).record(
            session, Action.LOGIN, self._about(account), detail="password verified"
        )
        return PasswordOk(person, enrolled=account.totp_sealed is not None)

    def check_code(self, session: Session, *, user_id: str, code: str, context: Context) -> Person:
        """The second step: a TOTP code (each step at most once) or an unused recovery code.
        Completes the login: the name's failures are forgotten."""
        now = self._clock()
        account = self._account_or_refuse(session, user_id, context)
        subjects = self._subjects(account.username, context)
        self._wait_or_refuse(session, subjects, account, context, now=now)
        account = self._locked(session, account)
        if not self._usable(session, account):
            raise self._refuse(
                session, subjects, account, context, detail="account disabled", now=now
            )
        detail = self._second_factor(session, account, code, subjects, context, now=now)
        self._succeed(session, subjects)
        person = person_of(account)
        self._recorder(context, person).record(
            session, Action.LOGIN, self._about(account), detail=detail
        )
        return person

    def _second_factor(
        self,
        session: Session,
        account: UserAccount,
        code: str,
        subjects: Sequence[str],
        context: Context,
        *,
        now: datetime,
    ) -> str:
        """Accept ``code`` as the next TOTP code or an unused recovery code, or refuse (and
        count) it; returns which it was."""
        if account.totp_kek_id is None or account.totp_sealed is None:
            raise self._refuse(session, subjects, account, context, detail="no factor", now=now)
        secret = self._sealer.unseal(account.user_id, account.totp_kek_id, account.totp_sealed)
        step = totp.accepted_step(secret, code, now=now, last_step=account.totp_last_step)
        if step is not None:
            account.totp_last_step = step
            session.add(account)
            session.flush()
            return "totp"
        if totp.looks_like_recovery_code(code) and repository.use_recovery_code(
            session, account.user_id, totp.recovery_code_hash(recovery_key(secret), code), now=now
        ):
            left = repository.unused_recovery_codes(session, account.user_id)
            self._recorder(context, person_of(account)).record(
                session, Action.USER_RECOVERY_USE, self._about(account), detail=f"{left} left"
            )
            return "recovery code"
        raise self._refuse(session, subjects, account, context, detail="wrong code", now=now)

    # -- the second factor -----------------------------------------------------------------------

    def begin_enrolment(self, session: Session, *, user_id: str) -> Enrolment:
        """A new secret, kept sealed as pending until :meth:`confirm_enrolment`; refused
        (``Conflict``) for a person who has a factor already: only a reset removes it."""
        account = repository.get(session, user_id)
        if account is None or not self._usable(session, account):
            raise NotFound("no such user")
        if account.totp_sealed is not None:
            raise Conflict("a second factor is enrolled already; an administrator resets it")
        secret = totp.new_secret()
        account.pending_totp_kek_id, account.pending_totp_sealed = self._sealer.seal(
            account.user_id, secret
        )
        session.add(account)
        session.flush()
        uri = totp.provisioning_uri(secret, account=account.username, issuer=_TOTP_LABEL)
        return Enrolment(secret, uri, qr_svg(uri))

    def confirm_enrolment(
        self, session: Session, *, user_id: str, code: str, context: Context
    ) -> list[str]:
        """Confirm the pending secret with a code from the app; returns 10 recovery codes,
        shown once. Completes the login. A wrong code counts as a failed login."""
        now = self._clock()
        account = self._account_or_refuse(session, user_id, context)
        subjects = self._subjects(account.username, context)
        self._wait_or_refuse(session, subjects, account, context, now=now)
        account = self._locked(session, account)
        pending_kek, pending = account.pending_totp_kek_id, account.pending_totp_sealed
        if pending_kek is None or pending is None or account.totp_sealed is not None:
            raise self._refuse(session, subjects, account, context, detail="no enrolment", now=now)
        secret = self._sealer.unseal(account.user_id, pending_kek, pending)
        step = totp.accepted_step(secret, code, now=now, last_step=None)
        if step is None or not self._usable(session, account):
            raise self._refuse(session, subjects, account, context, detail="wrong code", now=now)
        codes = self._install_factor(session, account, secret, step=step)
        self._succeed(session, subjects)
        person = person_of(account)
        recorder = self._recorder(context, person)
        recorder.record(session, Action.USER_FACTOR_ENROL, self._about(account))
        recorder.record(session, Action.LOGIN, self._about(account), detail="factor enrolled")
        return codes

    def _install_factor(
        self, session: Session, account: UserAccount, secret: str, *, step: int | None
    ) -> list[str]:
        account.totp_kek_id, account.totp_sealed = self._sealer.seal(account.user_id, secret)
        account.pending_totp_kek_id = account.pending_totp_sealed = None
        account.totp_last_step = step
        session.add(account)
        codes = totp.new_recovery_codes()
        key = recovery_key(secret)
        repository.replace_recovery_codes(
            session, account.user_id, [totp.recovery_code_hash(key, c) for c in codes]
        )
        return codes

    # -- passwords -------------------------------------------------------------------------------

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
        """A person changes their own password, with the old one and a current code; wrong ones
        count as failed logins. Their sessions go on (an administrator's reset ends them)."""
        account = repository.get(session, user_id)
        if account is None:
            raise LoginRefused
        try:
            check_password_rules(new_password, username=account.username)
        except ValueError as exc:
            raise PasswordRejected(str(exc)) from None
        now = self._clock()
        subjects = self._subjects(account.username, context)
        self._wait_or_refuse(session, subjects, account, context, now=now)
        account = self._locked(session, account)
        if not self.passwords.verify(account.password_hash, old_password):
            raise self._refuse(
                session, subjects, account, context, detail="wrong password", now=now
            )
        self._second_factor(session, account, code, subjects, context, now=now)
        self._succeed(session, subjects)
        account.password_hash = self.passwords.hash(new_password)
        account.password_changed_at = now
        session.add(account)
        session.flush()
        self._recorder(context, person_of(account)).record(
            session, Action.USER_PASSWORD_CHANGE, self._about(account)
        )

    def redeem_action_token(
        self,
        session: Session,
        *,
        token: str,
        new_password: str,
        context: Context,
        purpose: str | None = None,
    ) -> Person:
        """Set a password through an activation or reset link; the link then stops working.
        A password that breaks the rules leaves the link as it was. ``purpose`` (``activate``
        or ``reset``), when given, is the kind of link the token must be: an activation token
        does not work at a reset address, nor the other way round."""
        row = repository.lock_action_token(session, _token_hash(token))
        now = self._clock()
        account = repository.get(session, row.user_id) if row is not None else None
        if (
            row is None
            or (purpose is not None and row.purpose != purpose)
            or account is None
            or as_utc(row.expires_at) <= now
            or not self._usable(session, account)
        ):
            raise LinkInvalid
        try:
            check_password_rules(new_password, username=account.username)
        except ValueError as exc:
            raise PasswordRejected(str(exc)) from None  # the link stays, for a better password
        repository.delete_action_tokens(session, account.user_id)
        account.password_hash = self.passwords.hash(new_password)
        account.password_changed_at = now
        session.add(account)
        session.flush()
        person = person_of(account)
        self._recorder(context, person).record(
            session,
            Action.USER_PASSWORD_RESET,
            self._about(account),
            detail="activation" if row.purpose == ACTIVATE else "reset link",
        )
        return person

    # -- who is who ------------------------------------------------------------------------------

    def person(self, session: Session, user_id: str) -> Person | None:
        """The person, or ``None`` when missing or disabled, or their organisation is."""
        account = repository.get(session, user_id)
        if account is None or not self._usable(session, account):
            return None
        return person_of(account)

    def account(self, session: Session, username: str) -> UserAccount:
        """The account named ``username`` (``NotFound`` naming it: for administrators)."""
        account = repository.get_by_username(session, username.strip().lower())
        if account is None:
            raise NotFound(f"no user {username!r}")
        return account

    # -- administration (ketenhub user ...) ------------------------------------------------------

    def add_user(
        self,
        session: Session,
        *,
        organisation: str,
        username: str,
        roles: Iterable[Role],
        processing_activity: str,
        context: Context,
    ) -> NewUser:
        """A new account with no password yet: the returned link's token sets it."""
        org = organisations.get(session, organisation)
        if org is None:
            raise Unprocessable(f"no organisation {organisation!r}")
        if not org.enabled:
            raise Unprocessable(f"organisation {org.code} is disabled; enable it first")
        if not USERNAME.fullmatch(username):
            raise Unprocessable("a username is 3-64 characters of a-z, 0-9, '.', '_' and '-'")
        roles = frozenset(roles)
        try:
            check_roles(roles)
        except ValueError as exc:
            raise Unprocessable(str(exc)) from None
        if processing_activity not in PROCESSING_ACTIVITIES:
            raise Unprocessable(
                f"unknown processing activity {processing_activity!r}; "
                f"use one of {', '.join(PROCESSING_ACTIVITIES)}"
            )
        account = UserAccount(
            user_id=str(uuid.uuid4()),
            username=username,
            organisation=org.code,
            roles=" ".join(sorted(roles)),
            processing_activity=processing_activity,
            enabled=True,
            created_at=self._clock(),
        )
        if not repository.insert(session, account):
            raise Unprocessable(f"user {username!r} exists already")
        token = self._new_link(session, account, ACTIVATE)
        Recorder(self._auditor, context).record(
            session,
            Action.USER_ADD,
            self._about(account),
            detail=f"roles {account.roles}",
            organisation=account.organisation,
        )
        return NewUser(person_of(account), token)

    def list_users(self, session: Session, *, organisation: str | None = None) -> list[UserSummary]:
        summaries = []
        for account in repository.list_all(session, organisation=organisation):
            row = repository.get_throttle(session, throttling.name_subject(account.username))
            summaries.append(
                UserSummary(
                    person_of(account),
                    enabled=account.enabled,
                    activated=account.password_hash is not None,
                    enrolled=account.totp_sealed is not None,
                    locked=row is not None and row.locked_at is not None,
                )
            )
        return summaries

    def disable_user(self, session: Session, *, username: str, context: Context) -> Person:
        """Disable; the person's tokens stop acting (``tokens_valid_after``). Never oneself."""
        account = self.account(session, username)
        self._not_own(session, account, Action.USER_DISABLE, context)
        now = self._clock()
        account.enabled, account.disabled_at, account.tokens_valid_after = False, now, now
        return self._administered(session, account, Action.USER_DISABLE, context)

    def enable_user(self, session: Session, *, username: str, context: Context) -> Person:
        account = self.account(session, username)
        if not organisations.is_enabled(session, account.organisation):
            raise Unprocessable(f"organisation {account.organisation} is disabled; enable it first")
        account.enabled = True
        return self._administered(session, account, Action.USER_ENABLE, context)

    def reset_password(self, session: Session, *, username: str, context: Context) -> str:
        """Clear the password and end the person's tokens; returns a reset link's token (the
        factor stays: the person still needs it to log in). Never one's own (the account page
        changes it)."""
        account = self.account(session, username)
        self._not_own(session, account, Action.USER_PASSWORD_RESET, context)
        now = self._clock()
        account.password_hash, account.tokens_valid_after = None, now
        token = self._new_link(session, account, RESET)
        self._administered(session, account, Action.USER_PASSWORD_RESET, context, detail="reset")
        return token

    def reset_factor(self, session: Session, *, username: str, context: Context) -> Person:
        """Remove the factor and the recovery codes and end the person's tokens; they enrol
        again at their next login. Never one's own."""
        account = self.account(session, username)
        self._not_own(session, account, Action.USER_FACTOR_RESET, context)
        account.totp_kek_id = account.totp_sealed = account.totp_last_step = None
        account.pending_totp_kek_id = account.pending_totp_sealed = None
        account.tokens_valid_after = self._clock()
        repository.delete_recovery_codes(session, account.user_id)
        return self._administered(session, account, Action.USER_FACTOR_RESET, context)

    def change_roles(
        self, session: Session, *, username: str, roles: Iterable[Role], context: Context
    ) -> Person:
        """Give the person ``roles`` (kept apart by :func:`auth.people.check_roles`); their
        tokens end, so their next login carries the new roles' scopes and nothing of the old.
        Never one's own roles (:class:`OwnAccount`, recorded): nobody gives themselves a role."""
        account = self.account(session, username)
        self._not_own(session, account, Action.USER_ROLE_CHANGE, context)
        wanted = frozenset(roles)
        try:
            check_roles(wanted)
        except ValueError as exc:
            raise Unprocessable(str(exc)) from None
        old, new = account.roles, " ".join(sorted(wanted))
        if old == new:
            return self._administered(
                session, account, Action.USER_ROLE_CHANGE, context, detail=f"roles {new} unchanged"
            )
        account.roles, account.tokens_valid_after = new, self._clock()
        return self._administered(
            session, account, Action.USER_ROLE_CHANGE, context, detail=f"roles {old} -> {new}"
        )

    def unlock(self, session: Session, *, username: str, context: Context) -> Person:
        """Lift the lock and forget the name's failures."""
        account = self.account(session, username)
        repository.clear_throttle(session, throttling.name_subject(account.username))
        return self._administered(session, account, Action.USER_UNLOCK, context)

    def ensure_demo_user(
        self,
        session: Session,
        *,
        organisation: str,
        username: str,
        roles: Iterable[Role],
        processing_activity: str,
        password: str,
        totp_secret: str,
        context: Context,
    ) -> Person:
        """A demo user with this password and factor, created when missing and otherwise set to
        them (``ketenhub init --demo``, which keeps what demo-credentials.json holds)."""
        account = repository.get_by_username(session, username)
        if account is None:
            self.add_user(
                session,
                organisation=organisation,
                username=username,
                roles=roles,
                processing_activity=processing_activity,
                context=context,
            )
            account = self.account(session, username)
        account.password_hash = self.passwords.hash(password)
        self._install_factor(session, account, totp_secret, step=account.totp_last_step)
        repository.delete_action_tokens(session, account.user_id)
        session.add(account)
        session.flush()
        return person_of(account)

    # -- helpers ---------------------------------------------------------------------------------

    def _administered(
        self,
        session: Session,
        account: UserAccount,
        action: Action,
        context: Context,
        *,
        detail: str | None = None,
    ) -> Person:
        session.add(account)
        session.flush()
        Recorder(self._auditor, context).record(
            session, action, self._about(account), detail=detail, organisation=account.organisation
        )
        return person_of(account)

    def _not_own(
        self, session: Session, account: UserAccount, action: Action, context: Context
    ) -> None:
        """Refuse (:class:`OwnAccount`, recorded and kept) when the context's actor is the
        person of ``account``: a person administering themselves."""
        actor = context.actor
        if actor is None or actor.type != ActorType.USER or actor.id != account.username:
            return

        def record(session: Session) -> None:
            Recorder(self._auditor, context).record(
                session,
                action,
                self._about(account),
                Outcome.DENIED,
                detail="own account",
                organisation=account.organisation,
            )

        db.keep_refusal(session, record)
        raise OwnAccount("you cannot change your own account here; ask another administrator")

    def _new_link(self, session: Session, account: UserAccount, purpose: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        lifetime = ACTIVATION_LIFETIME if purpose == ACTIVATE else RESET_LIFETIME
        repository.replace_action_token(
            session,
            UserActionToken(
                token_hash=_token_hash(token),
                user_id=account.user_id,
                purpose=purpose,
                created_at=now,
                expires_at=now + lifetime,
            ),
        )
        return token

    def _usable(self, session: Session, account: UserAccount) -> bool:
        return account.enabled and organisations.is_enabled(session, account.organisation)

    @staticmethod
    def _locked(session: Session, account: UserAccount) -> UserAccount:
        """``account`` read again under its row lock, taken after the throttle rows (the one
        order every attempt locks in). Without it, two replicas checking one TOTP code at once
        both compare it with the last step they read before either committed, and both accept
        it (RFC 6238 §5.2: once)."""
        locked = repository.lock(session, account.user_id)
        if locked is None:  # deleted meanwhile: accounts are never deleted, but never a 500
            raise LoginRefused
        return locked

    def _account_or_refuse(self, session: Session, user_id: str, context: Context) -> UserAccount:
        account = repository.get(session, user_id)
        if account is None:
            # Only the login flow passes a user id, one it had from check_password.
            raise LoginRefused
        return account

    @staticmethod
    def _subjects(username: str, context: Context) -> list[str]:
        subjects = [throttling.name_subject(username)]
        if context.source_address:
            subjects.append(throttling.address_subject(context.source_address))
        return subjects

    def _wait_or_refuse(
        self,
        session: Session,
        subjects: Sequence[str],
        account: UserAccount | None,
        context: Context,
        *,
        now: datetime,
    ) -> None:
        rows = [repository.lock_throttle(session, s) for s in subjects]
        wait = throttling.waiting(rows, now=now)
        if wait is None:
            return
        actor = self._actor(account)
        about = self._about(account)
        detail = "locked" if wait == throttling.LOCKED else "throttled"

        def record(session: Session) -> None:
            Recorder(self._auditor, context, actor).record(
                session, Action.LOGIN, about, Outcome.DENIED, detail=detail
            )

        db.keep_refusal(session, record)
        raise LoginRefused(retry_after=wait)

    def _refuse(
        self,
        session: Session,
        subjects: Sequence[str],
        account: UserAccount | None,
        context: Context,
        *,
        detail: str,
        now: datetime,
    ) -> LoginRefused:
        """Count the failure on every throttle and record it (and a lock it causes); returns
        the error to raise."""
        actor = self._actor(account)
        about = self._about(account)
        waits: list[float] = []

        def record(session: Session) -> None:
            recorder = Recorder(self._auditor, context, actor)
            recorder.record(session, Action.LOGIN, about, Outcome.DENIED, detail=detail)
            for subject in subjects:
                row = repository.lock_throttle(session, subject)
                if throttling.fail(row, self._policy, now=now) and account is not None:
                    recorder.record(session, Action.USER_LOCK, about, detail="failed logins")
                session.add(row)
                waits.append(throttling.waiting([row], now=now) or 0.0)
            session.flush()

        db.keep_refusal(session, record)
        return LoginRefused(retry_after=max(waits, default=0.0) or None)

    def _succeed(self, session: Session, subjects: Sequence[str]) -> None:
        for subject in subjects:
            row = repository.lock_throttle(session, subject)
            throttling.succeed(row)
            session.add(row)

    def _actor(self, account: UserAccount | None) -> Actor:
        if account is None:
            return Actor(ActorType.USER, _UNKNOWN)
        return self._person_actor(person_of(account))

    def _person_actor(self, person: Person) -> Actor:
        # A person reaches these steps only through the hub's login pages, which are the web
        # client's: it is the means, as it is for everything the person does afterwards.
        return Actor(
            ActorType.USER,
            person.username,
            person.organisation,
            self._auditor.purpose_uri(person.processing_activity),
            client=WEB_CLIENT_ID,
        )

    def _recorder(self, context: Context, person: Person) -> Recorder:
        return Recorder(self._auditor, context, self._person_actor(person))

    @staticmethod
    def _about(account: UserAccount | None) -> About:
        return About("user", account.user_id) if account is not None else NOTHING
