"""The input rules that keep odd values from becoming 500s or hidden text: RFC 3339 times at
the edge of the calendar, cursors the API never issued, and invisible characters in text."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from hub.core.errors import BadRequest
from hub.core.names import hidden_character
from hub.core.rfc3339 import Timestamp
from hub.web.pagination import encode_cursor, seq_position, time_id, time_id_position
from hub.web.schemas import VisibleText


class _When(BaseModel):
    at: Timestamp


class _Text(BaseModel):
    text: VisibleText


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", "0001-01-01T00:00:00+14:00"]
)
def test_a_time_that_leaves_the_calendar_in_utc_is_invalid_input(text: str) -> None:
    with pytest.raises(ValidationError, match="out of range"):
        _When.model_validate({"at": text})


def test_a_time_is_read_as_utc() -> None:
    parsed = _When.model_validate({"at": "0001-01-01T01:00:00+01:00"}).at
    assert parsed == datetime(1, 1, 1, tzinfo=UTC)
    assert parsed.utcoffset() is not None
    assert parsed.tzinfo is UTC


def _forged(after: Any, query: Any) -> str:
    return encode_cursor(after, query)


@pytest.mark.parametrize("after", [2**63, 2**53, -1, True, 1.0, "1", None, [1]])
def test_a_seq_cursor_outside_0_to_most_is_not_ours(after: Any) -> None:
    cursor = _forged(after, "q")
    if after is None:
        assert seq_position(cursor, "q", most=2**53 - 1) is None
        return
    with pytest.raises(BadRequest):
        seq_position(cursor, "q", most=2**53 - 1)


def test_a_seq_cursor_round_trips() -> None:
    assert seq_position(_forged(41, "q"), "q", most=2**53 - 1) == 41


@pytest.mark.parametrize(
    "position",
    [
        ["0001-01-01T00:00:00+01:00", str(uuid.uuid4())],
        ["9999-12-31T23:59:59-10:00", str(uuid.uuid4())],
        ["2026-01-01T00:00:00", str(uuid.uuid4())],
        ["2026-01-01T01:00:00+01:00", str(uuid.uuid4())],
        ["2026-01-01T00:00:00+00:00\x00", str(uuid.uuid4())],
        ["2026-01-01T00:00:00+00:00", 5],
        ["2026-01-01T00:00:00+00:00", "nope"],
        [None, None],
        {"a": 1, "b": 2},
        "ab",
        7,
    ],
)
def test_a_time_id_cursor_the_api_never_issued_is_refused(position: Any) -> None:
    with pytest.raises(BadRequest):
        time_id_position(_forged(position, "q"), "q")


def test_a_time_id_cursor_round_trips() -> None:
    moment, ident = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), uuid.uuid4()
    assert time_id_position(_forged(time_id(moment, ident), "q"), "q") == (moment, ident)


def test_garbage_is_not_a_cursor() -> None:
    for cursor in ["!!!!", "e30", base64.urlsafe_b64encode(json.dumps([1]).encode()).decode()]:
        with pytest.raises(BadRequest):
            time_id_position(cursor, "q")


@pytest.mark.parametrize(
    "char", ["\u202e", "\u2066", "\u2069", "\u200b", "\ufeff", "\x00", "\x85", "\u2028", "\ue000"]
)
def test_free_text_refuses_invisible_characters(char: str) -> None:
    found = hidden_character(f"a{char}b")
    assert found is not None
    assert found.startswith(f"U+{ord(char):04X} (")
    with pytest.raises(ValidationError, match=f"U\\+{ord(char):04X}"):
        _Text.model_validate({"text": f"a{char}b"})


def test_free_text_keeps_every_visible_script_and_space() -> None:
    for text in ["Reisdocument 2026", "وثيقة السفر", "Überprüfung\u00a0Nr. 5", "日本語"]:
        assert hidden_character(text) is None
        assert _Text.model_validate({"text": text}).text == text
