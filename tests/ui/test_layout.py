"""The pages' layout in a real browser, at a desktop width (1280 px) and at 320 px, the width
WCAG 2.1's reflow criterion (1.4.10) asks a page to work at without scrolling sideways.

- The main navigation is one horizontal bar (its links side by side, the first at the left
  edge of the content, not centred), with the current page marked ``aria-current="page"``.
- The header keeps the hub's name, the person, logout and the language switch visible; at
  320 px nothing sticks out of the page: no horizontal scrollbar, no element wider than it.

Every state is saved as a screenshot (``test-artifacts/screenshots/ui/layout-*.png``).
"""

from __future__ import annotations

from typing import Final

import pytest
from playwright.sync_api import Browser, Page

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


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(ui_hub: UiHub, browser: Browser, width: int) -> None:
    context, _ = ui_hub.context(browser)
    page = ui_hub.log_in(context, USER)
    page.set_viewport_size({"width": width, "height": 900})
    for path in PATHS:
        page.goto(path)
        assert overflow(page) == [], path
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
