"""The console's integrity page in Chromium, as the demo's auditor uses it: the latest
checkpoint, a full verification run to its end ("Intact"), the checkpoint from the page checked
back ("consistent"), and something that is no checkpoint refused on the form. Each state is
scanned by axe (0 violations; screenshots in ``test-artifacts/screenshots/ui/``), and the same
pages under their own policy send it and report no CSP violation or script error."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from tests.fixtures.browser import violations
from tests.fixtures.cli import run_ketenhub
from tests.ui.harness import UiHub, main_text
from tests.ui.test_accessibility import Scans

AUDITOR = "dtv.auditor"
INTEGRITY = "/audit/integrity"


def _verify(page: Page) -> None:
    with page.expect_navigation():
        page.locator("#hub-verify button[type=submit]").click()
    assert "/audit/integrity/verifications/" in page.url
    # Without the script the Refresh link; with it, the progress is put in place.
    page.locator("#hub-verification:not([data-running])").wait_for()
    if "Bezig" in main_text(page):
        page.reload()
    assert "Intact: alle" in main_text(page), main_text(page)


def _check(page: Page, note: str) -> None:
    page.goto(INTEGRITY)
    page.locator("textarea[name=note]").fill(note)
    with page.expect_navigation():
        page.locator("#hub-check button[type=submit]").click()


def test_the_integrity_pages_pass_axe(ui_hub: UiHub, browser: Browser) -> None:
    run_ketenhub(ui_hub.served.env, "audit", "checkpoint")
    scans = Scans()
    context, _ = ui_hub.context(browser, bypass_csp=True)
    page = ui_hub.log_in(context, AUDITOR, next_path=INTEGRITY)
    scans(page, "audit-integrity")
    note = page.locator("#hub-checkpoint-note").inner_text()
    assert "\n\n— " in note  # the signed note, its signature line after a blank line

    _verify(page)
    scans(page, "audit-integrity-verification")

    _check(page, note)
    assert "Consistent met het logboek tot en met" in main_text(page), main_text(page)
    scans(page, "audit-integrity-checked")

    _check(page, "hallo\n")
    assert "Dit is geen checkpoint." in main_text(page)
    scans(page, "audit-integrity-refused")

    assert set(scans.found) == {
        "audit-integrity",
        "audit-integrity-verification",
        "audit-integrity-checked",
        "audit-integrity-refused",
    }
    assert scans.report() == ""


def test_the_integrity_pages_run_clean_under_their_policy(ui_hub: UiHub, browser: Browser) -> None:
    context, watch = ui_hub.context(browser)
    page = ui_hub.log_in(context, AUDITOR, next_path=INTEGRITY)
    assert "script-src 'self'" in (watch.answers[-1].headers.get("content-security-policy") or "")
    _verify(page)
    _check(page, "hallo\n")
    assert violations(page) == []
    errors = [e for e in watch.errors if "Failed to load resource" not in e]
    assert errors == []
