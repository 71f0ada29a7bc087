"""The content fields of an event's leaf: what they accept, and how they are hashed."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785

from audit.events import LEAF_FIELDS, Action, Event, Outcome, format_time, leaf_hash_of

_AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _download(**fields: Any) -> Event:
    return Event(action=Action.DOCUMENT_DOWNLOAD, outcome=Outcome.SUCCESS, **fields)


def test_the_content_fields_follow_every_older_field_in_the_leaf_order() -> None:
    assert LEAF_FIELDS[-3:] == ("content_sha256", "content_size", "range")


def test_content_size_is_a_json_number_in_the_leaf_and_its_hash() -> None:
    leaf = _download(content_sha256=_SHA, content_size=4, range="1-2").leaf(seq=7, time=_AT)
    assert leaf["content_size"] == 4
    assert type(leaf["content_size"]) is int
    assert leaf["range"] == "1-2"
    independent = hashlib.sha256(b"\x00" + rfc8785.dumps(leaf)).digest()
    assert leaf_hash_of(leaf) == independent
    assert b'"content_size":4,' in rfc8785.dumps(leaf)


def test_an_event_without_content_has_the_leaf_it_had_before_the_fields_existed() -> None:
    leaf = _download(actor_id="demo-iom").leaf(seq=3, time=_AT)
    assert set(leaf) == {"seq", "time", "action", "outcome", "actor_id"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"content_sha256": _SHA}, "go together"),
        ({"content_size": 4}, "go together"),
        ({"content_sha256": _SHA.upper(), "content_size": 4}, "lowercase hex"),
        ({"content_sha256": _SHA[:-1], "content_size": 4}, "lowercase hex"),
        ({"content_sha256": _SHA, "content_size": -1}, "integer from 0"),
        ({"content_sha256": _SHA, "content_size": 2**53}, "integer from 0"),
        ({"content_sha256": _SHA, "content_size": True}, "integer from 0"),
        ({"content_sha256": _SHA, "content_size": "4"}, "integer from 0"),
        ({"range": "0-1"}, "comes with the content"),
        ({"content_sha256": _SHA, "content_size": 4, "range": "1-4"}, "not within"),
        ({"content_sha256": _SHA, "content_size": 4, "range": "2-1"}, "not within"),
        ({"content_sha256": _SHA, "content_size": 4, "range": "01-2"}, "start-end"),
        ({"content_sha256": _SHA, "content_size": 4, "range": "bytes 0-1"}, "start-end"),
        ({"content_sha256": _SHA, "content_size": 0, "range": "0-0"}, "not within"),
    ],
)
def test_malformed_content_fields_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _download(**fields)


def test_an_empty_content_is_recorded_whole() -> None:
    empty = hashlib.sha256(b"").hexdigest()
    leaf = _download(content_sha256=empty, content_size=0).leaf(seq=0, time=_AT)
    assert leaf["content_size"] == 0


# -- the leaf prepared before the log's lock ------------------------------------------------------


def _every_field(**overrides: Any) -> Event:
    fields: dict[str, Any] = {
        name: f"{name}-value"
        for name in LEAF_FIELDS
        if name not in {"seq", "time", "action", "outcome", "content_size"}
    }
    fields |= {
        "actor_type": "client",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
        "foreign_span_id": "00f067aa0ba902b7",
        "data_subject_id_type": "vreemdelingennummer",
        "content_sha256": _SHA,
        "content_size": 2**53 - 1,
        "range": "0-0",
    }
    return Event(action=Action.DOCUMENT_DOWNLOAD, outcome=Outcome.SUCCESS, **(fields | overrides))


_PREPARED_CASES = [
    Event(action=Action.DOCUMENT_READ, outcome=Outcome.SUCCESS),
    _download(content_sha256=_SHA, content_size=0),
    _every_field(),
    # Names sorted before "seq" and between "seq" and "time" only; none after "time".
    Event(action=Action.TOKEN_ISSUE, outcome=Outcome.DENIED, source_address="10.0.0.1"),
    # Text that JCS escapes or writes as UTF-8, around the spliced members.
    _every_field(detail='a "quoted"\\ détail ✓ 𝄞', resource_id="é", source_address="<€>"),
]


@pytest.mark.parametrize("event", _PREPARED_CASES)
@pytest.mark.parametrize("seq", [0, 1, 9, 10, 12345, 2**53 - 1])
def test_a_prepared_leaf_is_byte_for_byte_the_leaf_and_its_hash(event: Event, seq: int) -> None:
    prepared = event.prepare()
    leaf = event.leaf(seq=seq, time=_AT)
    spliced = prepared.leaf(seq=seq, time=format_time(_AT))
    assert list(spliced.items()) == list(leaf.items())  # the same members in the same order
    expected = hashlib.sha256(b"\x00" + rfc8785.dumps(leaf)).digest()
    assert prepared.leaf_hash(seq=seq, time=format_time(_AT)) == leaf_hash_of(leaf) == expected


@pytest.mark.parametrize("seq", [-1, 2**53, True])
def test_a_prepared_leaf_refuses_a_seq_json_cannot_hold(seq: int) -> None:
    with pytest.raises(ValueError, match="seq"):
        _every_field().prepare().leaf_hash(seq=seq, time=format_time(_AT))


def test_a_prepared_leaf_takes_only_a_formatted_time() -> None:
    with pytest.raises(ValueError, match="format_time"):
        _every_field().prepare().leaf_hash(seq=1, time='2026-12-06T12:00:00.000000"Z')
