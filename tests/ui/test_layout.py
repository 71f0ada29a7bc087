"""The pages' layout in a real browser, at a desktop width (1280 px) and at 320 px, the width
WCAG 2.1's reflow criterion (1.4.10) asks a page to work at without scrolling sideways.

- The main navigation is one horizontal bar (its links side by side, the first at the left
  edge of the content, not centred), with the current page marked ``aria-current="page"``.
- The header keeps the hub's name, the person, logout and the language switch visible; at
  320 px nothing sticks out of the page: no horizontal scrollbar, no element wider than it.

- The auditor's console and the administration (issue 13) reflow at 320 px the same way, and
  every keyboard stop on them looks different while it has the focus (an outline, a shadow,
  an underline or a colour: WCAG 2.4.7); the check is shown to bite with the focus styles
  removed.

Every state is saved as a screenshot (``test-artifacts/screenshots/ui/layout-*.png``).
"""

from __future__ import annotations

from typing import Final

import pytest
from playwright.sync_api import Browser, Page, Route

from tests.ui.harness import UiHub, shoot

WIDTHS: Final = (1280, 320)
USER: Final = "gm0363.medewerker"


def nav_boxes(page: Page) -> list[dict[str, float]]:
    boxes: list[dict[str, float]] = page.evaluate(
        """[...document.querySelectorAll('nav[aria-label] a')].map(a => {
             const r = a.getBoundingClientRect();
             return {x: r.x, y: r.y, width: r.width, height: r.height};
           })"""
    )
    return boxes


def overflow(page: Page) -> list[str]:
    """What sticks out to the right of the viewport (a page that scrolls sideways)."""
    found: list[str] = page.evaluate(
        """() => {
             const width = document.documentElement.clientWidth;
             const out = [...document.querySelectorAll('header *, nav *, main *, footer *')]
               .filter(e => !e.closest('.hub-table-scroll') || e.matches('.hub-table-scroll'))
               .filter(e => e.getBoundingClientRect().right > width + 1)
               .map(e => `${e.tagName.toLowerCase()}.${e.className}`);
             const page = document.documentElement.scrollWidth;
             if (page > width) out.push(`the page scrolls sideways: ${page} px`);
             return out;
           }"""
    )
    return found


@pytest.mark.parametrize("width", WIDTHS)
def test_the_navigation_is_a_horizontal_bar_marking_the_current_page(
    ui_hub: UiHub, browser: Browser, width: int
) -> None:
    context, _ = ui_hub.context(browser)
    page = ui_hub.log_in(context, USER, next_path="/documents")
    page.set_viewport_size({"width": width, "height": 900})
    boxes = nav_boxes(page)
    assert len(boxes) == 3, boxes
    # Side by side: one row (they fit even at 320 px), left to right.
    assert max(b["y"] for b in boxes) - min(b["y"] for b in boxes) < 2, boxes
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"], boxes
    # Aligned with the content, not centred in the page.
    main_left = page.locator("main h1").bounding_box()
    assert main_left is not None
    assert abs(boxes[0]["x"] - main_left["x"]) <= 16, (boxes[0], main_left)
    current = page.locator("nav[aria-label] a[aria-current=page]")
    assert current.count() == 1
    assert current.get_attribute("href") == "/documents"
    # A document's page is under Documents: marked as the current section, not as the page.
    page.goto("/documents/new")
    assert page.locator("nav[aria-label] a[aria-current=page]").count() == 0
    assert page.locator("nav[aria-label] a[aria-current=true]").get_attribute("href") == (
        "/documents"
    )
    shoot(page, f"layout-upload-{width}")


PATHS: Final = ("/", "/documents", "/documents/new", "/shares", "/shares/new")


def assert_fits(page: Page, path: str, width: int) -> None:
    """``path`` at ``width``: nothing sticks out, the header's parts are all in view, and the
    content starts where the header does."""
    answer = page.goto(path)
    assert answer is not None
    assert answer.status == 200, (path, answer.status)
    sticking_out = overflow(page)
    assert sticking_out == [], f"{path}: {sticking_out[:8]}"
    for part in (".hub-header__name", ".hub-header__person", ".hub-header__logout button"):
        box = page.locator(part).bounding_box()
        assert box is not None, part
        assert box["x"] >= 0, (path, part, box)
        assert box["x"] + box["width"] <= width, (path, part, box)
    assert page.locator(".hub-language").is_visible()
    # The content starts where the header does: not a narrow column in the middle.
    name = page.locator(".hub-header__name").bounding_box()
    heading = page.locator("main h1").bounding_box()
    assert name is not None
    assert heading is not None
    assert abs(name["x"] - heading["x"]) < 2, (path, name, heading)
    shoot(page, f"layout-{path.strip('/').replace('/', '-') or 'home'}-{width}")


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(ui_hub: UiHub, browser: Browser, width: int) -> None:
    context, _ = ui_hub.context(browser)
    page = ui_hub.log_in(context, USER)
    page.set_viewport_size({"width": width, "height": 900})
    for path in PATHS:
        assert_fits(page, path, width)


# The auditor's console and the administration (issue 13): the pages with the widest content
# (the events table, the charts, the policy) must reflow at 320 px as well.
STAFF_PATHS: Final = {
    "dtv.auditor": (
        "/",
        "/audit",
        "/audit/events",
        "/audit/subject-report",
        "/audit/integrity",
        "/audit/policy",
    ),
    "dtv.beheerder": (
        "/",
        "/admin",
        "/admin/organisations",
        "/admin/users",
        "/admin/users/new",
        "/admin/clients",
        "/admin/clients/new",
        "/admin/shares",
        "/admin/policy",
    ),
}


@pytest.fixture(scope="module")
def staff(ui_hub: UiHub, browser: Browser) -> dict[str, Page]:
    """The auditor and the administrator, each logged in once for the module."""
    pages: dict[str, Page] = {}
    for user in STAFF_PATHS:
        context, _ = ui_hub.context(browser)
        pages[user] = ui_hub.log_in(context, user)
    return pages


@pytest.mark.parametrize("user", STAFF_PATHS)
def test_no_console_or_admin_page_scrolls_sideways(staff: dict[str, Page], user: str) -> None:
    page = staff[user]
    page.set_viewport_size({"width": 320, "height": 900})
    owed = {}
    for path in STAFF_PATHS[user]:
        try:
            assert_fits(page, path, 320)
        except AssertionError as exc:
            owed[path] = str(exc).splitlines()[0][:300]
    assert owed == {}


# What shows a focus: an outline (its width and colour only where one is drawn: Chromium
# reports a width for outline-style none too), a shadow, an underline, colours.
FOCUS_STYLE: Final = """element => {
  const s = getComputedStyle(element);
  const outline = s.outlineStyle === 'none' ? 'none'
    : [s.outlineStyle, s.outlineWidth, s.outlineColor, s.outlineOffset].join(' ');
  return [outline, s.boxShadow, s.textDecorationLine, s.backgroundColor, s.color,
          s.borderColor].join('|');
}"""
TAB_STOPS: Final = 40
DESCRIBE: Final = """e => [
  e.tagName.toLowerCase(),
  e.getAttribute('href') || e.getAttribute('name') || '',
  e.textContent.trim().slice(0, 40),
].join(' ')"""


def unfocusable_stops(page: Page) -> list[str]:
    """Press Tab through the page from its start (at most ``TAB_STOPS`` times); every element
    that gets the focus must look different while it has it (an outline, a shadow, an
    underline, a colour). The ones that do not, described."""
    page.locator("body").evaluate("body => { document.activeElement?.blur(); }")
    page.mouse.click(1, 1)
    hidden: list[str] = []
    previous = None
    for _ in range(TAB_STOPS):
        page.keyboard.press("Tab")
        current = page.evaluate_handle("document.activeElement")
        if previous is not None and current.evaluate("(e, p) => e === p", previous[1]):
            # A stop inside the same element (a date field's day, month, year and picker):
            # its look was taken when the focus came to it.
            continue
        if previous is not None:
            focused_style, element = previous
            if element.evaluate(FOCUS_STYLE) == focused_style:
                hidden.append(element.evaluate(DESCRIBE))
        if current.evaluate("e => e === document.body || e === null"):
            break
        previous = (current.evaluate(FOCUS_STYLE), current)
    return hidden


@pytest.mark.parametrize("user", STAFF_PATHS)
def test_keyboard_focus_is_visible_on_console_and_admin_pages(
    staff: dict[str, Page], user: str
) -> None:
    page = staff[user]
    page.set_viewport_size({"width": 1280, "height": 900})
    owed = {}
    for path in STAFF_PATHS[user]:
        answer = page.goto(path)
        assert answer is not None
        if answer.status != 200:
            owed[path] = [f"status {answer.status}"]
            continue
        if hidden := unfocusable_stops(page):
            owed[path] = hidden
    assert owed == {}


def test_the_focus_check_bites(staff: dict[str, Page]) -> None:
    """With the focus styles taken away (a rule appended to the hub's own stylesheet, as the
    CSP allows), the same check finds the stops that no longer show the focus."""
    page = staff["dtv.auditor"]
    page.set_viewport_size({"width": 1280, "height": 900})
    hidden = (
        "\n*:focus, *:focus-visible { outline: none !important; box-shadow: none !important;"
        " text-decoration: inherit !important; }\n"
    )

    def without_focus(route: Route) -> None:
        original = route.fetch()
        route.fulfill(response=original, body=original.text() + hidden)

    page.context.route("**/static/ui/hub.css*", without_focus)
    try:
        page.goto("/")
        assert unfocusable_stops(page) != []
    finally:
        page.context.unroute("**/static/ui/hub.css*", without_focus)
