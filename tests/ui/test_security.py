"""The web UI's session and form defences, attacked from a real browser (issue 12, "Tests").

- The session cookie: ``__Host-ketenhub``, ``Secure``, ``HttpOnly``, ``SameSite=Lax``,
  ``Path=/``, no ``Domain``, as the ``Set-Cookie`` header sends it and as Chromium keeps it.
- Session fixation: the id a browser holds before login (its own, or one an attacker planted)
  is worth nothing after it: login gives a new one, and the old one replayed gets the login page.
- Logout ends the session on the server: the cookie copied before logout and replayed with
  httpx afterwards gets ``303`` to ``/login`` (the same cookie got the home page just before).
- CSRF: a form posted without its ``csrf_token``, or with another session's (``foreign``), is
  refused with a ``403`` page and does nothing; a form on another site posting to the hub does
  nothing either.

- Throttling: after the free attempts a wrong password makes the name wait, and the right
  password sent at once is refused too.

Each test logs in a person of its own, so no test waits for a fresh TOTP step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import Browser, Page, Response

from tests.fixtures.browser import Watch
from tests.ui.harness import (
    COOKIE,
    UiHub,
    enter_code,
    fill,
    fill_password,
    form_of,
    log_out,
    main_text,
    open_login_form,
    send_upload,
    shoot,
)

ATTACKER: Final = "http://attacker.invalid"
# Wrong passwords a name may send before it waits (hub.accounts.throttle.ThrottlePolicy).
FREE_ATTEMPTS: Final = 3


def set_cookie_headers(answers: list[Response]) -> list[str]:
    """Every ``Set-Cookie`` of the session cookie in ``answers``, as sent."""
    return [
        header["value"]
        for answer in answers
        for header in answer.headers_array()
        if header["name"].lower() == "set-cookie" and header["value"].startswith(f"{COOKIE}=")
    ]


def attributes(set_cookie: str) -> dict[str, str]:
    """A ``Set-Cookie`` value's attributes, names lower-cased (``name=value`` left out)."""
    found = {}
    for part in set_cookie.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        found[name.lower()] = value
    return found


def assert_logged_out(hub: UiHub, cookie: str) -> None:
    answer = hub.replay(cookie)
    assert answer.status_code == 303, answer.text[:500]
    assert answer.headers["location"].startswith(("/login", hub.url("/login")))


def test_cookie_flags_and_a_new_session_id_at_login(ui_hub: UiHub, browser: Browser) -> None:
    context, watch = ui_hub.context(browser)
    page = context.new_page()
    open_login_form(page)
    before = ui_hub.cookie(context)
    assert before is not None, "the login form started no session"

    fill_password(page, "kmar.medewerker", ui_hub.password("kmar.medewerker"))
    enter_code(page, ui_hub.codes.code("kmar.medewerker"))
    page.wait_for_url(ui_hub.url("/"))
    after = ui_hub.cookie(context)
    assert after is not None
    assert after != before
    assert ui_hub.replay(after).status_code == 200
    assert_logged_out(ui_hub, before)

    # Every Set-Cookie the hub sent for the session, and the cookie as Chromium keeps it.
    sent = set_cookie_headers(watch.answers)
    assert len(sent) >= 2, sent  # the anonymous session and the logged-in one
    for header in sent:
        flags = attributes(header)
        assert "secure" in flags, header
        assert "httponly" in flags, header
        assert flags.get("samesite", "").lower() == "lax", header
        assert flags.get("path") == "/", header
        assert "domain" not in flags, header
    (kept,) = [c for c in context.cookies(ui_hub.base_url) if c.get("name") == COOKIE]
    assert kept.get("secure") is True
    assert kept.get("httpOnly") is True
    assert kept.get("sameSite") == "Lax"
    assert kept.get("path") == "/"
    assert kept.get("domain") == "127.0.0.1"  # host-only: no Domain was given
    # Scripts cannot read it.
    assert COOKIE not in page.evaluate("document.cookie")


def test_a_planted_session_id_is_not_the_one_logged_in(ui_hub: UiHub, browser: Browser) -> None:
    # The attacker gets an anonymous session from the hub ...
    attacker, _ = ui_hub.context(browser)
    open_login_form(attacker.new_page())
    planted = ui_hub.cookie(attacker)
    assert planted is not None

    # ... and plants it in the victim's browser (a subdomain or an injected header could).
    victim, _ = ui_hub.context(browser)
    victim.add_cookies(
        [
            {
                "name": COOKIE,
                "value": planted,
                "domain": ui_hub.served.host,
                "path": "/",
                "secure": True,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )
    page = ui_hub.log_in(victim, "ind.medewerker")
    assert main_text(page)
    logged_in = ui_hub.cookie(victim)
    assert logged_in is not None
    assert logged_in != planted
    assert ui_hub.replay(logged_in).status_code == 200
    assert_logged_out(ui_hub, planted)


def test_logout_ends_the_session_on_the_server(ui_hub: UiHub, browser: Browser) -> None:
    context, _ = ui_hub.context(browser)
    page = ui_hub.log_in(context, "politie.medewerker")
    copied = ui_hub.cookie(context)
    assert copied is not None
    assert ui_hub.replay(copied).status_code == 200

    log_out(page)
    shoot(page, "logged-out")
    assert_logged_out(ui_hub, copied)
    # The browser itself is logged out too.
    answer = page.goto("/")
    assert answer is not None
    assert page.url.startswith(ui_hub.url("/login")) or page.locator("input[name=password]").count()
    events = ui_hub.served.events(action="user.logout")
    assert [e["leaf"].get("actor_id") for e in events] == ["politie.medewerker"], events


def upload_form(page: Page, tmp_path: Path) -> None:
    """Open the upload form and fill it in (not sent)."""
    file = tmp_path / "besluit.pdf"
    file.write_bytes(b"%PDF-1.7\n% csrf\n%%EOF\n")
    page.goto("/documents/new")
    fill(
        page,
        {
            "document_type": "case_info",
            "v_number": "1234567890",
            "title": "CSRF",
            "file": str(file),
        },
    )


def document_links(page: Page) -> int:
    page.goto("/documents")
    return page.locator("main a[href^='/documents/']").count()


@pytest.mark.parametrize("token", ["missing", "foreign"])
def test_a_form_without_its_csrf_token_is_refused(
    ui_hub: UiHub, browser: Browser, tmp_path: Path, token: str
) -> None:
    username = "coa.medewerker" if token == "missing" else "dtv.medewerker"
    context, _ = ui_hub.context(browser)
    page = ui_hub.log_in(context, username)
    before = document_links(page)

    other, _ = ui_hub.context(browser)
    other_page = other.new_page()
    open_login_form(other_page)
    foreign = other_page.locator("input[name=csrf_token]").first.input_value()

    upload_form(page, tmp_path)
    csrf = form_of(page, "file").locator("input[name=csrf_token]")
    assert csrf.count() == 1
    if token == "missing":
        csrf.evaluate("element => element.remove()")
    else:
        csrf.evaluate("(element, value) => { element.value = value; }", foreign)
    assert send_upload(page).status == 403
    shoot(page, f"csrf-refused-{token}")

    assert document_links(page) == before
    copied = ui_hub.cookie(context)
    assert copied is not None
    assert ui_hub.replay(copied).status_code == 200


def test_a_form_on_another_site_does_not_log_out(ui_hub: UiHub, browser: Browser) -> None:
    context, _ = ui_hub.context(browser)
    page = ui_hub.log_in(context, "buza.medewerker")
    copied = ui_hub.cookie(context)
    assert copied is not None
    token = page.locator("form[action='/logout'] input[name=csrf_token]").first.input_value()

    # The attacker's page posts the logout form, with the person's own token even.
    html = (
        f"<form method=post action='{ui_hub.url('/logout')}'>"
        f"<input name=csrf_token value='{token}'><button>Win</button></form>"
    )
    context.route(
        f"{ATTACKER}/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=html),
    )
    evil = context.new_page()
    evil.goto(f"{ATTACKER}/prize")
    with evil.expect_navigation():
        evil.get_by_role("button", name="Win").click()
    assert ui_hub.replay(copied).status_code == 200
    watch_page = page.goto("/")
    assert watch_page is not None
    assert watch_page.status == 200
    assert page.url == ui_hub.url("/")


def test_the_watch_saw_the_whole_flow(ui_hub: UiHub, browser: Browser) -> None:
    """The recorder the other tests lean on sees the login's redirects (so a test that reads
    its URLs reads them all)."""
    context, watch = ui_hub.context(browser)
    ui_hub.log_in(context, "nidos.medewerker")
    assert isinstance(watch, Watch)
    assert any("/oauth/authorize" in url for url in watch.requests), watch.requests
    assert any("/login/callback" in url for url in watch.requests), watch.requests


def test_wrong_passwords_make_the_next_attempt_wait(ui_hub: UiHub, browser: Browser) -> None:
    """After the free attempts, a wrong password makes the name wait: the right password sent
    at once is refused as well, and the page says how long to wait. (The waits grow and the
    name is locked at last; the accounts tests cover that without a browser's pace.)"""
    user = "nidos.medewerker"
    context, watch = ui_hub.context(browser)
    page = context.new_page()
    open_login_form(page)
    for _ in range(FREE_ATTEMPTS + 1):
        fill_password(page, user, "not the password at all")
        page.locator("input[name=password]").wait_for()
        assert page.locator("input[name=code]").count() == 0
    shoot(page, "login-throttled")
    refused = main_text(page)

    # At once, the right password: refused too, before it is looked at.
    fill_password(page, user, ui_hub.password(user))
    page.locator("input[name=password]").wait_for()
    assert page.locator("input[name=code]").count() == 0
    assert re.search(r"\d", refused), refused  # the wait, in seconds
    assert watch.answers[-1].status in {200, 401, 429}, watch.answers[-1].status
