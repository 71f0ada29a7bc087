"""A hub with the web client and people, and a browser-like client that logs in through the pages.

The browser is an httpx client on ``https://127.0.0.1:8000`` (the session cookie is ``Secure``,
so httpx sends it back only over https) that follows no redirects, so each step of the flow is
seen; the hub is the real one (:func:`tests.fixtures.oauth.start_hub`), on both databases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from auth.people import Person, Role
from hub.clients.web import ensure_web_client
from hub.core import db
from hub.runtime import Services
from hub.trail.context import Context
from hub.ui.sessions import COOKIE
from tests.fixtures.oauth import ISSUER, Hub, hub_settings, start_hub
from tests.fixtures.secrets import register_secret

BROWSER_BASE = "https://127.0.0.1:8000"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class LoginHub:
    hub: Hub
    browser: TestClient

    @property
    def services(self) -> Services:
        return self.hub.services

    def person(
        self, username: str, *, organisation: str = "GM0363", roles: tuple[Role, ...] = ()
    ) -> tuple[Person, str, str]:
        """A person with a password and an enrolled factor: (person, password, TOTP secret)."""
        password, secret = f"a long password of {username}", pyotp.random_base32()
        register_secret(password, "a person's password")
        with db.transaction(self.services.engine) as session:
            person = self.services.accounts.ensure_demo_user(
                session,
                organisation=organisation,
                username=username,
                roles=roles or (Role.CASEWORKER,),
                processing_activity="opvang",
                password=password,
                totp_secret=secret,
                context=Context.operator(),
            )
        return person, password, secret

    def new_person(self, username: str, *, organisation: str = "GM0363") -> tuple[Person, str]:
        """A person as ``ketenhub user add`` leaves them: no password, an activation link."""
        with db.transaction(self.services.engine) as session:
            new = self.services.accounts.add_user(
                session,
                organisation=organisation,
                username=username,
                roles=(Role.CASEWORKER,),
                processing_activity="opvang",
                context=Context.operator(),
            )
        register_secret(new.link_token, "an activation link's token")
        return new.person, new.link_token

    def cookie(self) -> str | None:
        return self.browser.cookies.get(COOKIE)

    # -- the flow, step by step ------------------------------------------------------------

    def start(self, next_path: str = "/documents") -> Response:
        """``/login`` up to the password form; answers the form page."""
        started = self.browser.get("/login", params={"next": next_path})
        assert started.status_code == 303, started.text
        assert started.headers["location"].startswith("/oauth/authorize?")
        validated = self.browser.get(started.headers["location"])
        assert validated.status_code == 303, validated.text
        assert validated.headers["location"] == "/oauth/authorize"
        page = self.browser.get("/oauth/authorize")
        assert page.status_code == 200, page.text
        return page

    def post_step(self, page: Response, step: str, **fields: str) -> Response:
        return self.browser.post(
            "/oauth/authorize", data={"csrf_token": csrf_of(page), "step": step, **fields}
        )

    def password_step(self, page: Response, username: str, password: str) -> Response:
        answer = self.post_step(page, "password", username=username, password=password)
        assert answer.status_code == 303, answer.text
        shown = self.browser.get(answer.headers["location"])
        assert shown.status_code == 200, shown.text
        return shown

    def callback(self, answer: Response) -> Response:
        """Follow the authorization server's redirect to the BFF's callback."""
        assert answer.status_code == 303, answer.text
        location = urlsplit(answer.headers["location"])
        assert f"{location.scheme}://{location.netloc}" == ISSUER
        assert location.path == "/login/callback"
        return self.browser.get(f"{location.path}?{location.query}")

    def login(
        self, username: str, password: str, secret: str, next_path: str = "/documents"
    ) -> Response:
        """The whole login of an enrolled person; answers the callback's redirect."""
        page = self.password_step(self.start(next_path), username, password)
        done = self.callback(self.post_step(page, "factor", code=pyotp.TOTP(secret).now()))
        assert done.status_code == 303, done.text
        return done


def csrf_of(page: Response) -> str:
    found = _CSRF.search(page.text)
    assert found is not None, "the page has no csrf_token field"
    return found.group(1)


@pytest.fixture
def login_hub(tmp_path: Path, fresh_database_url: str) -> Iterator[LoginHub]:
    settings = hub_settings(tmp_path, fresh_database_url)
    for hub in start_hub(settings):
        with db.transaction(hub.services.engine) as session:
            ensure_web_client(session, issuer=ISSUER)
        browser = TestClient(
            hub.client.app,
            base_url=BROWSER_BASE,
            headers={"Accept": "text/html,application/xhtml+xml"},  # as a browser navigates
            follow_redirects=False,
            raise_server_exceptions=False,
        )
        yield LoginHub(hub, browser)
