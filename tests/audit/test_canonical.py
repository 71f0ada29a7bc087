"""RFC 8785 canonical JSON, checked against Trail of Bits' independent ``rfc8785`` package."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.canonical import MAX_SAFE_INTEGER, canonical_json

# Everything a leaf may hold: text (any valid Unicode), safe integers, booleans, nesting.
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_scalars = st.one_of(
    _text,
    st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
    st.booleans(),
    st.none(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=5)),
    max_leaves=20,
)


@settings(max_examples=400)
@given(st.dictionaries(_text, _values, max_size=8))
def test_matches_rfc8785_on_arbitrary_objects(value: dict[str, Any]) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.text(st.characters(max_codepoint=127), min_size=1, max_size=12),
        st.one_of(_text, st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER), st.booleans()),
        max_size=18,
    )
)
def test_the_fast_path_for_flat_leaves_matches_rfc8785(value: dict[str, Any]) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_member_order_is_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is D83D DE00 in UTF-16, which sorts before U+FB01 (FB01), though its code point
    # is larger: RFC 8785 §3.2.3 orders by UTF-16 code units.
    value = {"\ufb01": 1, "\U0001f600": 2, "a": 3}
    assert canonical_json(value) == '{"a":3,"\U0001f600":2,"\ufb01":1}'.encode()
    assert canonical_json(value) == rfc8785.dumps(value)


def test_control_characters_are_escaped_in_lowercase_hex() -> None:
    assert canonical_json({"k": "\x1f\n\u2028"}) == b'{"k":"\\u001f\\n\xe2\x80\xa8"}'


def test_rfc8785_appendix_example_without_floats() -> None:
    value = {"literals": [None, True, False], "string": '\u20ac$\u000f\nA\'B"\\\\"/'}
    expected = (
        b'{"literals":[null,true,false],"string":"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(value) == expected


@pytest.mark.parametrize("bad", [1.5, 2**53, -(2**53), float("nan")])
def test_numbers_a_leaf_may_not_hold_are_refused(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_json({"n": bad})


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        canonical_json({"k": "\ud800"})


def test_non_string_member_names_are_refused() -> None:
    with pytest.raises(TypeError):
        canonical_json({1: "x"})
