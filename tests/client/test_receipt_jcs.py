"""The client's RFC 8785 canonical form of an audit leaf, held against Trail of Bits' ``rfc8785``
and the hub's ``audit.canonical`` on every flat object a leaf can be."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.canonical import canonical_json
from audit.events import leaf_hash_of
from ketenhub_client.jcs import MAX_SAFE_INTEGER, canonical_leaf
from ketenhub_client.receipts import leaf_hash_of as client_leaf_hash_of
from ketenhub_client.verification_errors import MalformedEvidence

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
_flat = st.dictionaries(
    _text,
    st.one_of(_text, st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER), st.booleans()),
    max_size=22,
)


@settings(max_examples=500, deadline=None)
@given(_flat)
def test_matches_rfc8785_and_the_hub_on_flat_objects(leaf: dict[str, Any]) -> None:
    ours = canonical_leaf(leaf)
    assert ours == rfc8785.dumps(leaf)
    assert ours == canonical_json(leaf)


def test_a_real_leaf_hashes_as_the_hub_hashes_it() -> None:
    leaf = {
        "seq": 41,
        "time": "2026-12-06T10:00:00.000000Z",
        "action": "document.upload",
        "outcome": "success",
        "actor_type": "client",
        "actor_id": "demo-iom",
        "organisation": "IOM",
        "content_sha256": "ab" * 32,
        "content_size": 2**31,
        "detail": 'quote " backslash \\ tab \t bell \x07 euro € emoji \U0001f600',
    }
    assert client_leaf_hash_of(leaf) == leaf_hash_of(leaf)


def test_names_are_ordered_by_utf16_code_units() -> None:
    # U+1F600 is D83D DE00 in UTF-16, before U+FB01, though its code point is larger.
    leaf = {"\ufb01": 1, "\U0001f600": 2, "a": 3}
    assert canonical_leaf(leaf) == '{"a":3,"\U0001f600":2,"\ufb01":1}'.encode()


def test_controls_are_escaped_as_ecmascript_does() -> None:
    assert canonical_leaf({"k": "\b\t\n\f\r\x00\x1f\x7f\u2028"}) == (
        b'{"k":"\\b\\t\\n\\f\\r\\u0000\\u001f\x7f\xe2\x80\xa8"}'
    )


@pytest.mark.parametrize(
    "leaf",
    [
        {"n": 2**53},
        {"n": -(2**53)},
        {"n": 1.5},
        {"n": None},
        {"n": {"nested": 1}},
        {"n": [1]},
        {"n": "\ud800"},
        {"\udc00": 1},
    ],
)
def test_what_no_leaf_holds_is_refused_not_guessed(leaf: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvidence):
        canonical_leaf(leaf)
