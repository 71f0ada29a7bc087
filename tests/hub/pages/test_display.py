"""How the pages show types, purposes, moments, days and sizes, in Dutch and in English."""

from __future__ import annotations

from datetime import UTC, date, datetime
from importlib import resources

import pytest
import yaml

from hub.core.purposes import PROCESSING_ACTIVITIES
from hub.pages.choices import share_expiry
from hub.pages.display import DOCUMENT_TYPE_NAMES, PURPOSE_DESCRIPTIONS, Display
from hub.ui.i18n import Language

NL = Display(Language.NL)
EN = Display(Language.EN)


def test_document_types_have_a_name_in_each_language() -> None:
    assert [NL.document_type(t) for t in ("travel_document", "decision", "case_info")] == [
        "Reisdocument",
        "Beschikking",
        "Zaakinformatie",
    ]
    assert EN.document_type("travel_document") == "Travel document"
    assert NL.document_types(["case_info", "decision"]) == "Zaakinformatie, Beschikking"


def test_a_type_the_hub_has_no_name_for_is_shown_as_the_policy_writes_it() -> None:
    assert NL.document_type("medical_report") == "medical_report"


def test_a_purpose_is_its_code_and_its_description_in_the_language() -> None:
    text = PROCESSING_ACTIVITIES["terugkeer"]
    assert NL.purpose("terugkeer", text) == "terugkeer: vertrek voorbereiden en uitvoeren"
    assert EN.purpose("terugkeer", text) == "terugkeer: preparing and carrying out departure"
    # A policy's own description is shown as written; a purpose without one by its code.
    assert NL.purpose("eigen", "our own purpose") == "eigen: our own purpose"
    assert NL.purpose("eigen", None) == "eigen"


def test_the_catalogs_know_every_purpose_and_type_the_hub_ships() -> None:
    """The descriptions marked for the catalogs are the hub's and the demo policy's own: a
    description changed in one place and not the other would show in English."""
    assert set(PURPOSE_DESCRIPTIONS) == set(PROCESSING_ACTIVITIES.values())
    demo = yaml.safe_load(resources.files("hub.rules").joinpath("demo.yaml").read_text())
    assert set(demo["purposes"].values()) == set(PURPOSE_DESCRIPTIONS)
    assert set(demo["document_types"]) == set(DOCUMENT_TYPE_NAMES)
    for description in PURPOSE_DESCRIPTIONS:
        assert NL.purpose("x", description) != f"x: {description}", description


@pytest.mark.parametrize(
    ("size", "nl", "en"),
    [
        (0, "0 bytes", "0 bytes"),
        (1, "1 byte", "1 byte"),
        (597, "597 bytes", "597 bytes"),
        (1024, "1,0 KB", "1.0 KB"),
        (5 * 1024 * 1024, "5,0 MB", "5.0 MB"),
        (256 * 1024 * 1024 + 512 * 1024, "256,5 MB", "256.5 MB"),
        (2 << 30, "2,0 GB", "2.0 GB"),
    ],
)
def test_sizes_read_as_the_language_writes_numbers(size: int, nl: str, en: str) -> None:
    assert (NL.size(size), EN.size(size)) == (nl, en)


def test_seconds_read_as_the_language_writes_numbers() -> None:
    assert (NL.seconds(0.04), EN.seconds(0.04)) == ("0,0", "0.0")
    assert (NL.seconds(1234.56), EN.seconds(1234.56)) == ("1.234,6", "1,234.6")


def test_moments_are_the_netherlands_time_in_the_languages_own_order() -> None:
    winter = datetime(2026, 12, 6, 9, 37, tzinfo=UTC)  # CET, UTC+1
    summer = datetime(2026, 7, 1, 9, 5, tzinfo=UTC)  # CEST, UTC+2
    assert NL.moment(winter) == "06-12-2026 10:37"
    assert EN.moment(winter) == "6 Dec 2026, 10:37"
    assert NL.moment(summer) == "01-07-2026 11:05"


def test_days_are_written_out() -> None:
    assert NL.day(date(2027, 3, 5)) == "5 maart 2027"
    assert EN.day(date(2027, 3, 5)) == "5 March 2027"


def test_a_share_until_a_day_ends_on_that_day_not_at_the_next_midnight() -> None:
    # A share "until and including 5 January" ends at 6 January 00:00 in the Netherlands
    # (23:00 UTC the evening before): the page names the 5th, the day the person chose.
    end = share_expiry(date(2027, 1, 5))
    assert end.astimezone(UTC) == datetime(2027, 1, 5, 23, 0, tzinfo=UTC)
    assert Display(Language.NL).until(end) == "5 januari 2027"
    assert Display(Language.EN).until(end) == "5 January 2027"
    # Any other end (an API client's own moment) is shown as the moment it is.
    other = datetime(2027, 1, 5, 12, 30, tzinfo=UTC)
    assert Display(Language.NL).until(other) == "05-01-2027 13:30"
