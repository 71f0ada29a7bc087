"""The person of a page: login redirects, the token's validation and refresh, CSRF, cookies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import Response
from sqlmodel import select

from audit.models import AuditEvent
from hub.core import db
from hub.tables.web_sessions import WebSession as Row
from hub.ui.sessions import COOKIE, clear_cookie, set_cookie
from tests.fixtures.oauth import ISSUER, Hub
from tests.hub.ui.conftest import HTML


def _session(hub: Hub, *, access_token: str | None, refresh_token: str | None = None) -> str:
    """A logged-in web session (as the login flow leaves one); returns the cookie's value."""
    sessions = hub.services.web_sessions
    with db.transaction(hub.services.engine) as session:
        web, cookie = sessions.start(session, now=datetime.now(UTC))
        web.user_id, web.access_token, web.refresh_token = "u-1", access_token, refresh_token
        sessions.save(session, web, now=datetime.now(UTC))
    return cookie


def _csrf(hub: Hub, cookie: str) -> str:
    with db.transaction(hub.services.engine) as session:
        web = hub.services.web_sessions.load(session, cookie, now=datetime.now(UTC))
    assert web is not None
    return web.csrf_token


def _cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={value}"}


@pytest.fixture
def person_cookie(ui_hub: Hub) -> str:
    token = ui_hub.token(ui_hub.register(organisation="GM0363", scopes="documents:read"))
    return _session(ui_hub, access_token=token)


def test_no_session_redirects_to_login_with_the_page_as_next(ui_hub: Hub) -> None:
    response = ui_hub.client.get("/_test/person?x=1", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/_test/person?x=1"]}


def test_an_unknown_cookie_redirects_to_login(ui_hub: Hub) -> None:
    response = ui_hub.client.get(
        "/_test/person", headers={**HTML, **_cookie("A" * 43)}, follow_redirects=False
    )
    assert response.status_code == 303


def test_a_session_before_login_is_no_person(ui_hub: Hub) -> None:
    cookie = _session(ui_hub, access_token=None)
    response = ui_hub.client.get(
        "/_test/person", headers={**HTML, **_cookie(cookie)}, follow_redirects=False
    )
    assert response.status_code == 303


def test_a_logged_in_session_shows_the_page_with_the_person(
    ui_hub: Hub, person_cookie: str
) -> None:
    response = ui_hub.client.get("/_test/person", headers={**HTML, **_cookie(person_cookie)})
    assert response.status_code == 200
    assert "GM0363" in response.text
    assert 'href="/documents"' in response.text  # the navigation of documents:read
    assert 'href="/shares"' not in response.text
    assert f'name="csrf_token" value="{_csrf(ui_hub, person_cookie)}"' in response.text


def test_a_page_view_restarts_the_idle_clock(ui_hub: Hub, person_cookie: str) -> None:
    with db.transaction(ui_hub.services.engine) as session:
        row = session.exec(select(Row)).one()
        row.last_seen_at = datetime.now(UTC) - timedelta(minutes=14)
        session.add(row)
    ui_hub.client.get("/_test/person", headers={**HTML, **_cookie(person_cookie)})
    with db.transaction(ui_hub.services.engine) as session:
        seen = db.as_utc(session.exec(select(Row)).one().last_seen_at)
    assert datetime.now(UTC) - seen < timedelta(minutes=1)


def test_an_idle_session_redirects_to_login(ui_hub: Hub, person_cookie: str) -> None:
    with db.transaction(ui_hub.services.engine) as session:
        row = session.exec(select(Row)).one()
        row.last_seen_at = datetime.now(UTC) - timedelta(minutes=16)
        session.add(row)
    response = ui_hub.client.get(
        "/_test/person", headers={**HTML, **_cookie(person_cookie)}, follow_redirects=False
    )
    assert response.status_code == 303


def test_an_invalid_token_whose_refresh_is_refused_ends_the_session(ui_hub: Hub) -> None:
    cookie = _session(ui_hub, access_token="not.a.token", refresh_token="not-a-refresh-token")
    response = ui_hub.client.get(
        "/_test/person", headers={**HTML, **_cookie(cookie)}, follow_redirects=False
    )
    assert response.status_code == 303
    with db.transaction(ui_hub.services.engine) as session:
        assert session.exec(select(Row)).all() == []  # ended server-side, not only refused


def test_a_revoked_token_ends_the_page(ui_hub: Hub) -> None:
    client = ui_hub.register(organisation="GM0363", scopes="documents:read", with_secret=True)
    token = ui_hub.token(client)
    cookie = _session(ui_hub, access_token=token)
    revoked = ui_hub.client.post(
        "/oauth/revoke",
        data={"token": token},
        auth=(client.client_id, client.secret or ""),
    )
    assert revoked.status_code == 200
    response = ui_hub.client.get(
        "/_test/person", headers={**HTML, **_cookie(cookie)}, follow_redirects=False
    )
    assert response.status_code == 303


# -- CSRF ------------------------------------------------------------------------------------


def _post(hub: Hub, cookie: str, data: dict[str, str], **headers: str) -> int:
    response = hub.client.post(
        "/_test/person",
        data=data,
        headers={**HTML, **_cookie(cookie), **headers},
        follow_redirects=False,
    )
    if response.status_code == 403:
        assert response.headers["content-type"].startswith("text/html")
        assert "Niet toegestaan" in response.text
    return response.status_code


def test_a_form_with_the_sessions_token_is_accepted(ui_hub: Hub, person_cookie: str) -> None:
    token = _csrf(ui_hub, person_cookie)
    assert _post(ui_hub, person_cookie, {"csrf_token": token}) == 200
    assert _post(ui_hub, person_cookie, {"csrf_token": token}, origin=ISSUER) == 200
    assert (
        _post(ui_hub, person_cookie, {"csrf_token": token}, **{"sec-fetch-site": "same-origin"})
        == 200
    )


def test_a_form_without_a_token_is_refused(ui_hub: Hub, person_cookie: str) -> None:
    assert _post(ui_hub, person_cookie, {"other": "x"}) == 403


def test_a_form_with_a_wrong_token_is_refused(ui_hub: Hub, person_cookie: str) -> None:
    other = _session(ui_hub, access_token=None)
    assert _post(ui_hub, person_cookie, {"csrf_token": _csrf(ui_hub, other)}) == 403
    assert _post(ui_hub, person_cookie, {"csrf_token": "x" * 43}) == 403


def test_a_cross_site_origin_is_refused_even_with_the_token(
    ui_hub: Hub, person_cookie: str
) -> None:
    token = _csrf(ui_hub, person_cookie)
    assert _post(ui_hub, person_cookie, {"csrf_token": token}, origin="https://evil.example") == 403
    assert _post(ui_hub, person_cookie, {"csrf_token": token}, origin="null") == 403
    assert (
        _post(ui_hub, person_cookie, {"csrf_token": token}, **{"sec-fetch-site": "cross-site"})
        == 403
    )
    assert (
        _post(ui_hub, person_cookie, {"csrf_token": token}, **{"sec-fetch-site": "same-site"})
        == 403
    )


def test_a_body_that_is_not_a_form_is_refused(ui_hub: Hub, person_cookie: str) -> None:
    response = ui_hub.client.post(
        "/_test/person",
        content=b'{"csrf_token": "x"}',
        headers={**HTML, **_cookie(person_cookie), "Content-Type": "application/json"},
    )
    assert response.status_code == 403


def test_a_csrf_refusal_is_recorded_as_the_persons(ui_hub: Hub, person_cookie: str) -> None:
    assert _post(ui_hub, person_cookie, {}) == 403
    with db.transaction(ui_hub.services.engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "http.refuse")).all()
    refused = [e for e in events if e.detail == "403 POST /_test/person"]
    assert len(refused) == 1
    assert refused[0].actor_type == "client"  # a person's token names the user instead
    assert refused[0].organisation == "GM0363"


def test_the_language_switch_needs_the_token_once_there_is_a_session(
    ui_hub: Hub, person_cookie: str
) -> None:
    data = {"lang": "en", "next": "/documents"}
    refused = ui_hub.client.post(
        "/language", data=data, headers={**HTML, **_cookie(person_cookie)}, follow_redirects=False
    )
    assert refused.status_code == 403
    accepted = ui_hub.client.post(
        "/language",
        data={**data, "csrf_token": _csrf(ui_hub, person_cookie)},
        headers={**HTML, **_cookie(person_cookie)},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/documents"


def test_the_language_switch_sets_its_cookie_and_stays_on_the_hub(ui_hub: Hub) -> None:
    response = ui_hub.client.post(
        "/language", data={"lang": "en", "next": "//evil.example/"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-ketenhub-lang=en;")
    for flag in ("HttpOnly", "Path=/", "SameSite=lax", "Secure"):
        assert flag in cookie
    assert "Domain" not in cookie
    cross = ui_hub.client.post(
        "/language",
        data={"lang": "en", "next": "/"},
        headers={**HTML, "Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert cross.status_code == 403
    assert "set-cookie" not in cross.headers


def test_the_session_cookie_flags() -> None:
    response = Response()
    set_cookie(response, "v" * 43)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-ketenhub=" + "v" * 43 + ";")
    for flag in ("HttpOnly", "Path=/", "SameSite=lax", "Secure"):
        assert flag in cookie
    assert "Domain" not in cookie
    assert "Max-Age" not in cookie
    assert "expires" not in cookie.lower()
    cleared = Response()
    clear_cookie(cleared)
    assert "Max-Age=0" in cleared.headers["set-cookie"]
    assert "Secure" in cleared.headers["set-cookie"]
