"""The login through the pages: password and code, enrolment, recovery codes, the session's new
id, logout, and every way the flow refuses (wrong state, foreign next, CSRF, throttling)."""

from __future__ import annotations

import pyotp
from sqlmodel import Session, select

from audit.models import AuditEvent
from hub.ui.sessions import COOKIE
from tests.hub.login.conftest import LoginHub


def _session_of(login_hub: LoginHub, cookie: str | None):  # noqa: ANN202
    with Session(login_hub.services.engine) as session:
        from hub.login.progress import utcnow

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
