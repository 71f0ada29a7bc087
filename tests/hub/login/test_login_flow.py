"""The login through the pages: password and code, enrolment, recovery codes, the session's new
id, logout, and every way the flow refuses (wrong state, foreign next, CSRF, throttling)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import pyotp
import pytest
from sqlmodel import Session, select

from audit.models import AuditEvent
from auth.tokens import InvalidToken
from hub.core import db
from hub.login.progress import utcnow
from hub.tokens.service import GrantRefused
from hub.trail.context import Context
from hub.websessions.store import WebSession
from tests.fixtures.secrets import register_secret
from tests.hub.login.conftest import LoginHub, csrf_of


def _session_of(login_hub: LoginHub, cookie: str | None) -> WebSession | None:
    with Session(login_hub.services.engine) as session:
        return login_hub.services.web_sessions.load(session, cookie, now=utcnow())


def _actions(login_hub: LoginHub) -> list[str]:
    with Session(login_hub.services.engine) as session:
        return [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]


def test_a_person_logs_in_with_password_and_code_and_gets_a_new_session_id(
    login_hub: LoginHub,
) -> None:
    person, password, secret = login_hub.person("gm0363.medewerker")
    login_hub.start()
    before = login_hub.cookie()
    assert before is not None
    done = login_hub.login(person.username, password, secret, next_path="/documents?page=2")
    assert done.headers["location"] == "/documents?page=2"
    after = login_hub.cookie()
    assert after is not None
    assert after != before
    assert _session_of(login_hub, before) is None  # the id known before login opens nothing
    web = _session_of(login_hub, after)
    assert web is not None
    assert web.logged_in
    assert web.user_id == person.user_id
    principal = login_hub.services.oauth.validator.validate(web.access_token or "")
    assert principal.username == person.username
    assert "user.login" in _actions(login_hub)


def test_a_new_person_activates_sets_a_password_enrols_and_gets_recovery_codes(
    login_hub: LoginHub,
) -> None:
    person, token = login_hub.new_person("gm0363.nieuw")
    link = f"/account/activate/{token}"
    form = login_hub.browser.get(link)
    assert form.status_code == 200
    password = "my own long password, chosen"
    register_secret(password, "a person's password")
    # A link works only at its own kind of address: an activation token is no reset link.
    elsewhere = login_hub.browser.post(
        f"/account/reset/{token}", data={"csrf_token": csrf_of(form), "new_password": password}
    )
    assert elsewhere.status_code == 404
    too_short = login_hub.browser.post(
        link, data={"csrf_token": csrf_of(form), "new_password": "short"}
    )
    assert too_short.status_code == 422
    assert "short" not in too_short.text  # the password is never written back
    done = login_hub.browser.post(
        link, data={"csrf_token": csrf_of(form), "new_password": password}
    )
    assert done.status_code == 200, done.text
    again = login_hub.browser.post(
        link, data={"csrf_token": csrf_of(form), "new_password": password}
    )
    assert again.status_code == 404  # one time only

    enrol = login_hub.password_step(login_hub.start(), person.username, password)
    assert 'src="data:image/svg+xml;base64,' in enrol.text
    secret = re.search(r'<code class="utrecht-code hub-secret">([A-Z2-7 ]+)</code>', enrol.text)
    assert secret is not None
    key = secret.group(1).replace(" ", "")
    assert login_hub.browser.get("/oauth/authorize").text.count(secret.group(1)) == 1  # same key
    wrong = login_hub.post_step(enrol, "enrol", code="000000")
    assert wrong.status_code == 400
    codes_page = login_hub.post_step(enrol, "enrol", code=pyotp.TOTP(key).now())
    assert codes_page.status_code == 200, codes_page.text
    codes = re.findall(
        r'<li class="utrecht-unordered-list__item"><code class="utrecht-code">([^<]+)</code>',
        codes_page.text,
    )
    assert len(codes) == 10
    for code in codes:
        register_secret(code, "a recovery code")
    shown_again = login_hub.browser.get("/oauth/authorize")
    assert not any(code in shown_again.text for code in codes)  # shown once
    done = login_hub.callback(login_hub.post_step(shown_again, "enrolled"))
    assert done.status_code == 303
    assert done.headers["location"] == "/documents"
    assert "user.factor_enrol" in _actions(login_hub)


def test_a_recovery_code_logs_in_once(login_hub: LoginHub) -> None:
    person, token = login_hub.new_person("gm0363.telefoonkwijt")
    password = "another long password here"
    register_secret(password, "a person's password")
    with Session(login_hub.services.engine) as session:
        login_hub.services.accounts.redeem_action_token(
            session, token=token, new_password=password, context=Context.operator()
        )
        key = login_hub.services.accounts.begin_enrolment(session, user_id=person.user_id)
        codes = login_hub.services.accounts.confirm_enrolment(
            session,
            user_id=person.user_id,
            code=pyotp.TOTP(key.secret_base32).now(),
            context=Context.operator(),
        )
        session.commit()
    for code in codes:
        register_secret(code, "a recovery code")
    factor = login_hub.password_step(login_hub.start(), person.username, password)
    alternative = login_hub.browser.get("/oauth/authorize?factor=recovery")
    assert alternative.status_code == 200
    assert "Herstelcode" in alternative.text or "Recovery code" in alternative.text
    done = login_hub.callback(login_hub.post_step(factor, "factor", code=codes[0]))
    assert done.status_code == 303
    assert "user.recovery_use" in _actions(login_hub)
    # The same code a second time is refused like any wrong code.
    factor = login_hub.password_step(login_hub.start(), person.username, password)
    reused = login_hub.post_step(factor, "factor", code=codes[0])
    assert reused.status_code == 400


def test_logout_ends_the_session_and_its_tokens(login_hub: LoginHub) -> None:
    person, password, secret = login_hub.person("gm0344.medewerker", organisation="GM0344")
    login_hub.login(person.username, password, secret)
    cookie = login_hub.cookie()
    web = _session_of(login_hub, cookie)
    assert web is not None
    assert web.refresh_token is not None
    refused = login_hub.browser.post("/logout", data={})
    assert refused.status_code == 403  # no csrf_token
    assert _session_of(login_hub, cookie) is not None
    out = login_hub.browser.post("/logout", data={"csrf_token": web.csrf_token})
    assert out.status_code == 303
    assert out.headers["location"] == "/logged-out"
    assert _session_of(login_hub, cookie) is None
    assert login_hub.cookie() is None
    with Session(login_hub.services.engine) as session, pytest.raises(GrantRefused):
        login_hub.services.oauth.refresh(
            session,
            refresh_token=web.refresh_token,
            audit=login_hub.services.audit,
            context=Context.operator(),
        )
    assert "user.logout" in _actions(login_hub)
    with pytest.raises(InvalidToken):
        login_hub.services.oauth.validator.validate(web.access_token or "")


def test_a_callback_with_another_state_is_refused_and_exchanges_nothing(
    login_hub: LoginHub,
) -> None:
    person, password, secret = login_hub.person("iom.medewerker", organisation="IOM")
    factor = login_hub.password_step(login_hub.start(), person.username, password)
    answer = login_hub.post_step(factor, "factor", code=pyotp.TOTP(secret).now())
    location = urlsplit(answer.headers["location"])
    forged = location.query.replace("state=", "state=x")
    refused = login_hub.browser.get(f"{location.path}?{forged}")
    assert refused.status_code == 400
    web = _session_of(login_hub, login_hub.cookie())
    assert web is not None
    assert not web.logged_in
    # The pending login is gone: the genuine answer, after a forged one, is refused too.
    assert login_hub.browser.get(f"{location.path}?{location.query}").status_code == 400


@pytest.mark.parametrize("change", ["drop", "other"])
def test_a_callback_without_the_hubs_iss_is_refused(login_hub: LoginHub, change: str) -> None:
    """RFC 9207: the hub always names itself in the answer, so an answer that does not (a mix-up
    with another authorization server) is refused before any code is exchanged."""
    person, password, secret = login_hub.person("kmar.medewerker", organisation="KMAR")
    factor = login_hub.password_step(login_hub.start(), person.username, password)
    answer = login_hub.post_step(factor, "factor", code=pyotp.TOTP(secret).now())
    location = urlsplit(answer.headers["location"])
    kept = [(k, v) for k, v in parse_qsl(location.query) if k != "iss"]
    if change == "other":
        kept.append(("iss", "https://as.example"))
    refused = login_hub.browser.get(f"{location.path}?{urlencode(kept)}")
    assert refused.status_code == 400
    web = _session_of(login_hub, login_hub.cookie())
    assert web is not None
    assert not web.logged_in


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_next_never_leaves_the_hub(login_hub: LoginHub, target: str) -> None:
    person, password, secret = login_hub.person("dtv.medewerker", organisation="DTV")
    done = login_hub.login(person.username, password, secret, next_path=target)
    assert done.headers["location"] == "/"


def test_every_post_needs_the_sessions_csrf_token(login_hub: LoginHub) -> None:
    person, password, _ = login_hub.person("coa.medewerker", organisation="COA")
    page = login_hub.start()
    fields = {"step": "password", "username": person.username, "password": password}
    assert login_hub.browser.post("/oauth/authorize", data=fields).status_code == 403
    wrong = {**fields, "csrf_token": "x" * 43}
    assert login_hub.browser.post("/oauth/authorize", data=wrong).status_code == 403
    cross_site = login_hub.browser.post(
        "/oauth/authorize",
        data={**fields, "csrf_token": csrf_of(page)},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert cross_site.headers["content-type"].startswith("text/html")
    _, token = login_hub.new_person("coa.nieuw", organisation="COA")
    link = f"/account/activate/{token}"
    login_hub.browser.get(link)
    assert login_hub.browser.post(link, data={"new_password": password}).status_code == 403
    assert login_hub.browser.post("/logout", data={}).status_code == 403
    # None of those did anything: the password step still waits.
    assert login_hub.browser.get("/oauth/authorize").text.count('name="password"') == 1


def test_unknown_user_wrong_password_and_disabled_user_get_one_answer(
    login_hub: LoginHub,
) -> None:
    person, password, _ = login_hub.person("kmar.medewerker", organisation="KMAR")
    disabled, disabled_password, _ = login_hub.person("kmar.oud", organisation="KMAR")
    with db.transaction(login_hub.services.engine) as session:
        login_hub.services.accounts.disable_user(
            session, username=disabled.username, context=Context.operator()
        )
    answers = []
    for username, typed in (
        ("nobody.here", password),
        (person.username, "not the password at all"),
        (disabled.username, disabled_password),
    ):
        page = login_hub.start()
        answer = login_hub.post_step(page, "password", username=username, password=typed)
        assert answer.status_code == 400
        assert typed not in answer.text
        answers.append(re.sub(r'value="[^"]+"', "", answer.text))
    assert answers[0] == answers[1] == answers[2]


def test_a_throttled_attempt_says_when_to_try_again(login_hub: LoginHub) -> None:
    person, _, _ = login_hub.person("politie.medewerker", organisation="POLITIE")
    statuses = []
    for _ in range(5):
        page = login_hub.start()
        answer = login_hub.post_step(page, "password", username=person.username, password="wrong")
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    seconds = int(answer.headers["Retry-After"])
    assert seconds >= 1
    assert f"{seconds} " in answer.text
    assert 'name="password"' in answer.text  # the form page itself


def test_a_person_changes_their_password_with_the_old_one_and_a_code(
    login_hub: LoginHub,
) -> None:
    assert login_hub.browser.get("/account").headers["location"].startswith("/login?next=")
    person, password, secret = login_hub.person("nidos.medewerker", organisation="NIDOS")
    login_hub.login(person.username, password, secret)
    page = login_hub.browser.get("/account")
    assert page.status_code == 200, page.text
    new_password = "a new and even longer password"
    register_secret(new_password, "a person's password")
    fields = {"csrf_token": csrf_of(page), "new_password": new_password}
    no_token = {"new_password": new_password, "old_password": password, "code": "123456"}
    assert login_hub.browser.post("/account", data=no_token).status_code == 403
    wrong = login_hub.browser.post(
        "/account", data={**fields, "old_password": "not it", "code": "123456"}
    )
    assert wrong.status_code == 400
    assert "not it" not in wrong.text
    # A code of the next step: the login above used this step's code once already.
    code = pyotp.TOTP(secret).at(utcnow().timestamp() + 30)
    done = login_hub.browser.post(
        "/account", data={**fields, "old_password": password, "code": code}
    )
    assert done.status_code == 200, done.text
    assert "user.password_change" in _actions(login_hub)
