"""Every form of a logged-in page needs the session's CSRF token, whatever the body's encoding
(found by the web UI's security review): a ``multipart/form-data`` post to a page that is not
the upload was let through without its token, and a forged password change counted as a failed
login of the person (their name waited, then locked). On both databases."""

from __future__ import annotations

from sqlmodel import Session, select

from audit.models import AuditEvent
from auth.models import UserLoginThrottle
from hub.accounts.throttle import name_subject
from tests.hub.login.conftest import LoginHub, csrf_of


def _failures(login_hub: LoginHub, username: str) -> int:
    with Session(login_hub.services.engine) as session:
        row = session.get(UserLoginThrottle, name_subject(username))
        return row.failures if row is not None else 0


def _denied_logins(login_hub: LoginHub) -> int:
    with Session(login_hub.services.engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "user.login")).all()
        return sum(1 for e in events if e.outcome == "denied")


def test_a_multipart_password_change_without_the_token_is_refused_and_counts_nothing(
    login_hub: LoginHub,
) -> None:
    person, password, secret = login_hub.person("gm0344.medewerker", organisation="GM0344")
    login_hub.login(person.username, password, secret)
    before = _denied_logins(login_hub)
    # A browser that sends neither Origin nor Sec-Fetch-Site is judged by the token alone.
    forged = login_hub.browser.post(
        "/account",
        files={
            "old_password": (None, "a guess"),
            "new_password": (None, "a new password of the forger"),
            "code": (None, "000000"),
        },
    )
    assert forged.status_code == 403, forged.text
    assert _failures(login_hub, person.username) == 0
    assert _denied_logins(login_hub) == before
    # With the session's token, the same multipart form is the person's own.
    page = login_hub.browser.get("/account")
    own = login_hub.browser.post(
        "/account",
        files={
            "csrf_token": (None, csrf_of(page)),
            "old_password": (None, "not the password"),
            "new_password": (None, "a new and even longer password"),
            "code": (None, "000000"),
        },
    )
    assert own.status_code == 400, own.text  # refused for the wrong password, not for CSRF
    assert _failures(login_hub, person.username) == 1
