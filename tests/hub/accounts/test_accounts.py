"""The accounts service on both databases: passwords, the second factor, throttling and locks,
one-time links, and what the audit trail records of each.

Real argon2id (with small parameters, so the suite stays quick), real TOTP codes computed from
the secret as an app would, a clock the tests move.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from audit.events import Action, ActorType, Outcome
from audit.models import AuditEvent
from auth import totp
from auth.models import UserAccount, UserLoginThrottle, UserRecoveryCode
from auth.passwords import Argon2Parameters, Passwords
from auth.people import WEB_CLIENT_ID, Role
from hub.accounts.service import (
    Accounts,
    LinkInvalid,
    LoginRefused,
    OwnAccount,
    PasswordRejected,
)
from hub.accounts.throttle import LOCKED
from hub.config import Environment, Settings
from hub.core import db
from hub.core.errors import Conflict, Unprocessable
from hub.organisations.service import CHAIN, ensure_organisations
from hub.runtime import build_audit
from hub.trail.context import Actor, Context
from hub.web.deps import RequestTransaction
from storage.keys import LocalKeyRing
from tests.fixtures.secrets import register_secret

PASSWORD = "correct horse battery"
SMALL = Argon2Parameters(memory_kib=1024, time_cost=1, parallelism=1)
START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Hub:
    engine: Engine
    accounts: Accounts
    clock: Clock

    def context(self, address: str | None = "192.0.2.7") -> Context:
        return Context.new(source_address=address)

    def add(
        self, username: str = "coa.piet", *, roles: tuple[Role, ...] = (Role.CASEWORKER,)
    ) -> str:
        """A user with PASSWORD and an enrolled factor; returns the TOTP secret."""
        return self.enrolled(username, roles=roles)[0]

    def enrolled(
        self, username: str = "coa.piet", *, roles: tuple[Role, ...] = (Role.CASEWORKER,)
    ) -> tuple[str, list[str]]:
        """A user with PASSWORD and an enrolled factor: the TOTP secret and recovery codes."""
        with db.transaction(self.engine) as session:
            new = self.accounts.add_user(
                session,
                organisation="COA",
                username=username,
                roles=roles,
                processing_activity="opvang",
                context=Context.operator(),
            )
            self.accounts.redeem_action_token(
                session, token=new.link_token, new_password=PASSWORD, context=self.context()
            )
            enrolment = self.accounts.begin_enrolment(session, user_id=new.person.user_id)
            register_secret(enrolment.secret_base32, "TOTP secret")
            codes = self.accounts.confirm_enrolment(
                session,
                user_id=new.person.user_id,
                code=self.code(enrolment.secret_base32),
                context=self.context(),
            )
        for code in codes:
            register_secret(code, "recovery code")
        self.clock.advance(90)  # the enrolment used this step's code; the next ones are free
        return enrolment.secret_base32, codes

    def code(self, secret: str, *, offset: int = 0) -> str:
        return totp.code_at(secret, totp.step_at(self.clock.now) + offset)

    @contextmanager
    def request(self) -> Iterator[Session]:
        """A session in a request's transaction, as the login pages have it: committed when the
        block ends, and when it raises only its refusals are."""
        with Session(self.engine, expire_on_commit=False) as session:
            transaction = RequestTransaction(session)
            try:
                yield session
                transaction.commit()
            except BaseException:
                transaction.fail()
                raise

    def login(self, username: str, password: str = PASSWORD, **kw: str | None) -> str:
        """The password step in a request of its own; returns the user id."""
        with self.request() as session:
            ok = self.accounts.check_password(
                session, username=username, password=password, context=self.context(**kw)
            )
        return ok.person.user_id

    def code_step(self, user_id: str, code: str, **kw: str | None) -> None:
        with self.request() as session:
            self.accounts.check_code(
                session, user_id=user_id, code=code, context=self.context(**kw)
            )

    def events(self, action: Action) -> list[AuditEvent]:
        with Session(self.engine) as session:
            statement = (
                select(AuditEvent)
                .where(col(AuditEvent.action) == action)
                .order_by(col(AuditEvent.seq))
            )
            return list(session.exec(statement).all())

    def account(self, username: str) -> UserAccount:
        with Session(self.engine) as session:
            row = session.exec(select(UserAccount).where(col(UserAccount.username) == username))
            return row.one()


@pytest.fixture
def hub(migrated_engine: Engine, tmp_path: Path) -> Hub:
    settings = Settings(environment=Environment.DEVELOPMENT, data_dir=tmp_path)
    keys = LocalKeyRing.create(tmp_path / "keyring.json")
    auditor = build_audit(settings, migrated_engine, keys)
    with db.transaction(migrated_engine) as session:
        auditor.keys.ensure(session)
        ensure_organisations(session, CHAIN)
    clock = Clock()
    accounts = Accounts(keys=keys, auditor=auditor, passwords=Passwords(SMALL), clock=clock)
    register_secret(PASSWORD, "test password")
    return Hub(migrated_engine, accounts, clock)


def refused(hub: Hub, username: str, password: str, **kw: str | None) -> LoginRefused:
    with pytest.raises(LoginRefused) as caught:
        hub.login(username, password, **kw)
    return caught.value


# -- passwords ---------------------------------------------------------------------------------


def test_a_login_with_password_and_code_records_the_person(hub: Hub) -> None:
    secret = hub.add()
    user_id = hub.login("COA.Piet ")  # names are compared in lower case, trimmed
    hub.code_step(user_id, hub.code(secret))
    logins = hub.events(Action.LOGIN)
    assert [(e.outcome, e.actor_id, e.organisation, e.resource_id, e.detail) for e in logins] == [
        ("success", "coa.piet", "COA", user_id, "factor enrolled"),
        ("success", "coa.piet", "COA", user_id, "password verified"),
        ("success", "coa.piet", "COA", user_id, "totp"),
    ]
    assert logins[-1].processing_activity_id.endswith("opvang")
    assert logins[-1].source_address == "192.0.2.7"
    # The login pages are the web client's: it is the means, as for the person's later calls.
    assert {e.actor_client for e in logins} == {WEB_CLIENT_ID}


def test_the_hash_keeps_its_parameters_and_old_ones_are_replaced_at_login(hub: Hub) -> None:
    hub.add()
    stored = hub.account("coa.piet").password_hash
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    hub.accounts.passwords = Passwords(Argon2Parameters(memory_kib=2048, time_cost=2))
    hub.login("coa.piet")
    assert hub.account("coa.piet").password_hash.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    hub.login("coa.piet")  # and the new hash verifies


def test_unknown_user_and_wrong_password_are_one_refusal_after_an_argon2_verify(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add()
    verified: list[str | None] = []
    real = Passwords.verify

    def counting(self: Passwords, stored: str | None, password: str) -> bool:
        verified.append(stored)
        return real(self, stored, password)

    monkeypatch.setattr(Passwords, "verify", counting)
    unknown = refused(hub, "nobody.here", PASSWORD)
    wrong = refused(hub, "coa.piet", "not the password at all")
    assert (str(unknown), unknown.retry_after) == (str(wrong), wrong.retry_after)
    assert len(verified) == 2
    assert verified[0] is None
    assert verified[1] is not None
    denied = hub.events(Action.LOGIN)[-2:]
    assert [(e.outcome, e.actor_id, e.resource_id, e.detail) for e in denied] == [
        ("denied", "unknown", None, "unknown user"),
        ("denied", "coa.piet", hub.account("coa.piet").user_id, "wrong password"),
    ]


def test_a_typed_name_or_password_never_reaches_the_trail(hub: Hub) -> None:
    refused(hub, "Tr0ub4dor&3-typed-as-a-name", "whatever was typed here")
    with Session(hub.engine) as session:
        leaves = [e.model_dump() for e in session.exec(select(AuditEvent)).all()]
    text = repr(leaves).lower()
    assert "tr0ub4dor" not in text
    assert "whatever was typed" not in text
    throttles = [t.subject for t in Session(hub.engine).exec(select(UserLoginThrottle)).all()]
    assert not any("tr0ub4dor" in subject for subject in throttles)


def test_a_disabled_user_with_the_right_password_is_refused_alike(hub: Hub) -> None:
    hub.add()
    with db.transaction(hub.engine) as session:
        hub.accounts.disable_user(session, username="coa.piet", context=Context.operator())
    assert str(refused(hub, "coa.piet", PASSWORD)) == str(refused(hub, "x.y.z", PASSWORD))
    with db.transaction(hub.engine) as session:
        assert hub.accounts.person(session, hub.account("coa.piet").user_id) is None


# -- throttling --------------------------------------------------------------------------------


def test_a_name_waits_longer_after_each_failure_then_locks_until_unlocked(hub: Hub) -> None:
    hub.add()
    waits = []
    for address in range(10):  # a new address each time: the name's own count
        waits.append(refused(hub, "coa.piet", "wrong password!", address=f"198.51.100.{address}"))
        hub.clock.advance(120)
    assert [w.retry_after for w in waits] == [None, None, None, 1, 2, 4, 8, 16, 32, LOCKED]
    # Locked: the right password is refused without being looked at, on any address.
    assert refused(hub, "coa.piet", PASSWORD, address="203.0.113.9").retry_after == LOCKED
    assert [e.actor_id for e in hub.events(Action.USER_LOCK)] == ["coa.piet"]
    assert hub.events(Action.LOGIN)[-1].detail == "locked"
    with db.transaction(hub.engine) as session:
        (summary,) = hub.accounts.list_users(session)
        assert summary.locked
        hub.accounts.unlock(session, username="coa.piet", context=Context.operator())
    hub.login("coa.piet")
    (unlock,) = hub.events(Action.USER_UNLOCK)
    assert (unlock.actor_type, unlock.organisation) == ("operator", "COA")


def test_a_throttled_attempt_is_refused_without_checking_the_password(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add()
    for _ in range(4):
        refused(hub, "coa.piet", "wrong password!")
    calls: list[str | None] = []
    monkeypatch.setattr(Passwords, "verify", lambda _self, stored, _pw: bool(calls.append(stored)))
    throttled = refused(hub, "coa.piet", PASSWORD)
    assert calls == []
    assert throttled.retry_after == pytest.approx(1.0)
    assert hub.events(Action.LOGIN)[-1].detail == "throttled"
    hub.clock.advance(1)
    monkeypatch.undo()
    hub.login("coa.piet")  # the wait is over; a throttled attempt did not count


def test_an_unknown_name_is_throttled_and_locked_like_a_known_one(hub: Hub) -> None:
    hub.add()
    for name in ("coa.piet", "coa.nobody"):
        waits = []
        for address in range(11):
            waits.append(refused(hub, name, "wrong password!", address=f"198.51.100.{address}"))
            hub.clock.advance(120)
        assert [w.retry_after for w in waits] == [None] * 3 + [1, 2, 4, 8, 16, 32] + [LOCKED] * 2


def test_one_address_waits_after_many_failures_on_many_names(hub: Hub) -> None:
    waits = []
    for n in range(12):
        waits.append(refused(hub, f"name.{n}", "wrong password!").retry_after)
        hub.clock.advance(60)
    assert waits == [None] * 10 + [1, 2]
    # Forgotten after a quiet quarter of an hour: it starts free again.
    hub.clock.advance(16 * 60)
    assert refused(hub, "name.x", "wrong password!").retry_after is None


def test_a_success_starts_the_count_again_but_only_a_complete_login(hub: Hub) -> None:
    secret = hub.add()
    for _ in range(3):
        refused(hub, "coa.piet", "wrong password!", address=None)
    user_id = hub.login("coa.piet", address=None)  # the password alone forgets nothing
    with pytest.raises(LoginRefused) as caught:
        hub.code_step(user_id, "000000", address=None)
    assert caught.value.retry_after == 1
    hub.clock.advance(1)
    hub.code_step(user_id, hub.code(secret), address=None)
    assert refused(hub, "coa.piet", "wrong password!", address=None).retry_after is None


def test_a_failure_is_kept_when_the_request_fails(hub: Hub) -> None:
    """In a request's transaction the refused attempt's count and record outlive the error."""
    hub.add()
    before = len(hub.events(Action.LOGIN))
    for _ in range(4):
        with Session(hub.engine, expire_on_commit=False) as session:
            transaction = RequestTransaction(session)
            with pytest.raises(LoginRefused):
                hub.accounts.check_password(
                    session, username="coa.piet", password="wrong!", context=hub.context()
                )
            transaction.fail()
    assert len(hub.events(Action.LOGIN)) == before + 4
    assert refused(hub, "coa.piet", PASSWORD).retry_after == pytest.approx(1.0)


# -- the second factor -------------------------------------------------------------------------


def test_a_code_is_accepted_one_step_either_side_and_once(hub: Hub) -> None:
    secret = hub.add()
    user_id = hub.login("coa.piet")
    for offset in (-2, 2):
        with pytest.raises(LoginRefused):
            hub.code_step(user_id, hub.code(secret, offset=offset))
    hub.code_step(user_id, hub.code(secret, offset=-1))
    hub.code_step(user_id, hub.code(secret))
    with pytest.raises(LoginRefused):  # used already
        hub.code_step(user_id, hub.code(secret))
    with pytest.raises(LoginRefused):  # an earlier step after a later one
        hub.code_step(user_id, hub.code(secret, offset=-1))
    hub.code_step(user_id, hub.code(secret, offset=1))
    wrong = [e.detail for e in hub.events(Action.LOGIN) if e.outcome == Outcome.DENIED]
    assert wrong == ["wrong code"] * 4


def test_recovery_codes_are_ten_single_use_and_stored_hashed(hub: Hub) -> None:
    with db.transaction(hub.engine) as session:
        new = hub.accounts.add_user(
            session,
            organisation="IND",
            username="ind.anna",
            roles=[Role.CASEWORKER],
            processing_activity="terugkeer",
            context=Context.operator(),
        )
        hub.accounts.redeem_action_token(
            session, token=new.link_token, new_password=PASSWORD, context=hub.context()
        )
        enrolment = hub.accounts.begin_enrolment(session, user_id=new.person.user_id)
        assert enrolment.qr_svg.startswith("<svg")
        assert "style" not in enrolment.qr_svg
        assert "script" not in enrolment.qr_svg
        assert enrolment.provisioning_uri.startswith("otpauth://totp/Ketenhub:ind.anna?")
        codes = hub.accounts.confirm_enrolment(
            session,
            user_id=new.person.user_id,
            code=hub.code(enrolment.secret_base32),
            context=hub.context(),
        )
    for code in codes:
        register_secret(code, "recovery code")
    assert len(set(codes)) == 10
    with Session(hub.engine) as session:
        stored = session.exec(select(UserRecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert not set(codes) & set(stored)
    user_id = hub.login("ind.anna")
    hub.code_step(user_id, codes[0].upper().replace("-", " "))
    with pytest.raises(LoginRefused):
        hub.code_step(user_id, codes[0])
    (used,) = hub.events(Action.USER_RECOVERY_USE)
    assert (used.actor_id, used.detail) == ("ind.anna", "9 left")
    assert hub.events(Action.LOGIN)[-2].detail == "recovery code"


def test_enrolment_is_once_until_an_administrator_resets_the_factor(hub: Hub) -> None:
    secret = hub.add()
    user_id = hub.account("coa.piet").user_id
    with db.transaction(hub.engine) as session, pytest.raises(Conflict):
        hub.accounts.begin_enrolment(session, user_id=user_id)
    with db.transaction(hub.engine) as session:
        hub.accounts.reset_factor(session, username="coa.piet", context=Context.operator())
    account = hub.account("coa.piet")
    assert account.totp_sealed is None
    assert db.as_utc(account.tokens_valid_after) == hub.clock.now
    with db.transaction(hub.engine) as session:
        ok = hub.accounts.check_password(
            session, username="coa.piet", password=PASSWORD, context=hub.context()
        )
    assert not ok.enrolled
    with pytest.raises(LoginRefused):  # the old secret's codes open nothing
        hub.code_step(user_id, hub.code(secret))
    assert [e.action for e in hub.events(Action.USER_FACTOR_RESET)] == ["user.factor_reset"]


# -- passwords chosen --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short pass", "at least 12"),
        ("x" * 257, "at most 256"),
        ("COA.piet.long", "not the username"),
    ],
)
def test_the_password_rules(hub: Hub, password: str, reason: str) -> None:
    hub.add("coa.piet.long")
    with db.transaction(hub.engine) as session:
        token = hub.accounts.reset_password(
            session, username="coa.piet.long", context=Context.operator()
        )
    with db.transaction(hub.engine) as session, pytest.raises(PasswordRejected, match=reason):
        hub.accounts.redeem_action_token(
            session, token=token, new_password=password, context=hub.context()
        )
    with db.transaction(hub.engine) as session:  # the link still works after a rejection
        hub.accounts.redeem_action_token(
            session, token=token, new_password="a long passphrase 🙂", context=hub.context()
        )
    with db.transaction(hub.engine) as session, pytest.raises(LinkInvalid):
        hub.accounts.redeem_action_token(
            session, token=token, new_password="another passphrase", context=hub.context()
        )


def test_a_reset_clears_the_password_and_a_link_expires(hub: Hub) -> None:
    hub.add()
    with db.transaction(hub.engine) as session:
        token = hub.accounts.reset_password(
            session, username="coa.piet", context=Context.operator()
        )
    refused(hub, "coa.piet", PASSWORD)
    hub.clock.advance(24 * 3600 + 1)
    with db.transaction(hub.engine) as session, pytest.raises(LinkInvalid):
        hub.accounts.redeem_action_token(
            session, token=token, new_password="a new passphrase", context=hub.context()
        )


def test_change_password_needs_the_old_one_and_a_code(hub: Hub) -> None:
    secret = hub.add()
    user_id = hub.account("coa.piet").user_id
    with pytest.raises(LoginRefused), hub.request() as session:
        hub.accounts.change_password(
            session,
            user_id=user_id,
            old_password="not the old one",
            new_password="a new passphrase",
            code=hub.code(secret),
            context=hub.context(),
        )
    with db.transaction(hub.engine) as session:
        hub.accounts.change_password(
            session,
            user_id=user_id,
            old_password=PASSWORD,
            new_password="a new passphrase",
            code=hub.code(secret),
            context=hub.context(),
        )
    hub.login("coa.piet", "a new passphrase")
    (changed,) = hub.events(Action.USER_PASSWORD_CHANGE)
    assert changed.actor_id == "coa.piet"


# -- administration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("organisation", "username", "roles", "message"),
    [
        ("NOPE", "x.y", [Role.CASEWORKER], "no organisation 'NOPE'"),
        ("COA", "X Y", [Role.CASEWORKER], "a username is"),
        ("COA", "coa.jan", [Role.CASEWORKER, Role.AUDITOR], "separation of duties"),
        ("COA", "coa.jan", [], "at least one role"),
        ("COA", "coa.piet", [Role.CASEWORKER], "exists already"),
    ],
)
def test_adding_a_user_refuses_clearly(
    hub: Hub, organisation: str, username: str, roles: list[Role], message: str
) -> None:
    hub.add()
    with db.transaction(hub.engine) as session, pytest.raises(Unprocessable, match=message):
        hub.accounts.add_user(
            session,
            organisation=organisation,
            username=username,
            roles=roles,
            processing_activity="opvang",
            context=Context.operator(),
        )


def test_an_auditor_may_also_administer(hub: Hub) -> None:
    hub.add("dtv.toezicht", roles=(Role.AUDITOR, Role.ADMIN))
    with db.transaction(hub.engine) as session:
        person = hub.accounts.person(session, hub.account("dtv.toezicht").user_id)
    assert person is not None
    assert {str(s) for s in person.scopes} == {"audit:read", "admin"}


# -- concurrency: two replicas, one code -------------------------------------------------------


def _blocked(engine: Engine, thread: threading.Thread) -> bool:
    """Whether ``thread``'s transaction waits for a lock another transaction holds (PostgreSQL:
    a backend waiting on a lock; SQLite: its BEGIN IMMEDIATE waits for the writer)."""
    if not thread.is_alive():
        return False
    if engine.dialect.name != "postgresql":
        return True
    with engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return bool(waiting)


@pytest.mark.parametrize("kind", ["totp", "recovery code"])
def test_one_code_sent_to_two_replicas_at_once_logs_in_once(hub: Hub, kind: str) -> None:
    """RFC 6238 §5.2: a TOTP code is accepted at most once, and a recovery code is single-use,
    also when two replicas check it at the same moment. The second check reads the account
    while the first holds the name's throttle row; it must not accept the code on what it read
    before the first committed."""
    secret, recovery_codes = hub.enrolled()
    code = hub.code(secret) if kind == "totp" else recovery_codes[0]
    user_id = hub.login("coa.piet")
    outcome: list[BaseException | None] = []

    def second() -> None:
        try:
            hub.code_step(user_id, code)
        except BaseException as exc:  # noqa: BLE001 - the outcome is the assertion
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=second)
    with hub.request() as first:
        hub.accounts.check_code(first, user_id=user_id, code=code, context=hub.context())
        thread.start()
        deadline = time.monotonic() + 10
        while not _blocked(hub.engine, thread) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _blocked(hub.engine, thread), "the second check never waited for the first"
    thread.join(timeout=30)
    assert len(outcome) == 1
    assert isinstance(outcome[0], LoginRefused), outcome
    accepted = [e for e in hub.events(Action.LOGIN) if e.detail == kind]
    assert len(accepted) == 1


# -- roles, and one's own account ------------------------------------------------------------------


def _admin_context(username: str) -> Context:
    """A request of the person ``username`` (an administrator) through the web client."""
    return replace(
        Context.new(source_address="192.0.2.9"),
        actor=Actor(ActorType.USER, username, "COA", None, client=WEB_CLIENT_ID),
    )


def test_change_roles_records_old_and_new_and_ends_the_tokens(hub: Hub) -> None:
    hub.add("coa.piet")
    hub.add("coa.beheer", roles=(Role.ADMIN,))
    with db.transaction(hub.engine) as session:
        person = hub.accounts.change_roles(
            session,
            username="coa.piet",
            roles=[Role.AUDITOR],
            context=_admin_context("coa.beheer"),
        )
    assert person.roles == {Role.AUDITOR}
    account = hub.account("coa.piet")
    assert account.roles == "auditor"
    assert account.tokens_valid_after is not None  # the old roles' tokens end
    (changed,) = hub.events(Action.USER_ROLE_CHANGE)
    assert (changed.outcome, changed.actor_id) == (Outcome.SUCCESS, "coa.beheer")
    assert changed.detail == "roles caseworker -> auditor"
    assert changed.resource_id == account.user_id


def test_change_roles_refuses_a_clash_of_duties(hub: Hub) -> None:
    hub.add("coa.piet")
    with db.transaction(hub.engine) as session, pytest.raises(Unprocessable, match="caseworker"):
        hub.accounts.change_roles(
            session,
            username="coa.piet",
            roles=[Role.CASEWORKER, Role.ADMIN],
            context=Context.operator(),
        )
    assert hub.account("coa.piet").roles == "caseworker"


@pytest.mark.parametrize("change", ["roles", "disable", "reset_factor", "reset_password"])
def test_nobody_administers_their_own_account_and_the_refusal_is_kept(
    hub: Hub, change: str
) -> None:
    hub.add("coa.beheer", roles=(Role.ADMIN,))
    before = hub.account("coa.beheer")
    context = _admin_context("coa.beheer")
    calls: dict[str, Callable[[Session], object]] = {
        "roles": lambda s: hub.accounts.change_roles(
            s, username="coa.beheer", roles=[Role.ADMIN, Role.AUDITOR], context=context
        ),
        "disable": lambda s: hub.accounts.disable_user(s, username="coa.beheer", context=context),
        "reset_factor": lambda s: hub.accounts.reset_factor(
            s, username="coa.beheer", context=context
        ),
        "reset_password": lambda s: hub.accounts.reset_password(
            s, username="coa.beheer", context=context
        ),
    }
    with hub.request() as session, pytest.raises(OwnAccount):
        calls[change](session)
    after = hub.account("coa.beheer")
    assert (after.roles, after.enabled, after.totp_sealed) == (
        before.roles,
        True,
        before.totp_sealed,
    )
    assert after.password_hash == before.password_hash
    with Session(hub.engine) as session:
        denied = session.exec(
            select(AuditEvent).where(col(AuditEvent.outcome) == Outcome.DENIED)
        ).all()
    assert [(e.actor_id, e.detail, e.resource_id) for e in denied] == [
        ("coa.beheer", "own account", before.user_id)
    ]
