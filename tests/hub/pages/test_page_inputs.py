"""Bad input to the pages answers a page with a 4xx status, never a 500: days at the ends of
the calendar in the documents filter and the share form (found by the web UI's security
review), on both backend pairs."""

from __future__ import annotations

import pytest

from tests.hub.pages.conftest import PagesHub

V_NUMBER = "4817305926"


@pytest.mark.parametrize(
    "query",
    [
        "created_until=9999-12-31",
        "created_since=9999-12-31",
        "created_since=0001-01-01",
        "created_until=0001-01-01",
        "created_since=0001-01-01&created_until=9999-12-31",
    ],
)
def test_a_filter_day_at_the_calendars_ends_is_a_page_not_a_500(
    pages_hub: PagesHub, query: str
) -> None:
    answer = pages_hub.browser("GM0363").get(f"/documents?{query}")
    assert answer.status_code in {200, 422}, answer.text
    assert answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("until", ["9999-12-31", "0001-01-01", "9999-12-30"])
def test_a_share_until_the_calendars_ends_is_the_form_again_not_a_500(
    pages_hub: PagesHub, until: str
) -> None:
    gemeente = pages_hub.browser("GM0363")
    answer = gemeente.post(
        "/shares/new",
        data={
            "csrf_token": gemeente.csrf_token,
            "v_number": V_NUMBER,
            "document_types": "case_info",
            "grantee": "IOM",
            "purpose": "terugkeer",
            "until": until,
        },
    )
    assert answer.status_code == 422, answer.text
    assert 'name="csrf_token"' in answer.text  # the form again, with its reason
