"""``If-Match`` / ``If-None-Match`` parsing and evaluation (RFC 9110 §8.8.3, §13.1, §13.2.2),
without a hub: the grammar's corners, and a round trip of any list a client could send."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.web.preconditions import (
    ANY,
    EntityTag,
    MalformedPrecondition,
    Precondition,
    evaluate,
    joined,
    parse_tags,
)

CURRENT = EntityTag('"abc"')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("*", ANY),
        ("  *\t", ANY),
        ('"abc"', (EntityTag('"abc"'),)),
        ('W/"abc"', (EntityTag('"abc"', weak=True),)),
        ('""', (EntityTag('""'),)),
        ('"a", W/"b" ,"c"', (EntityTag('"a"'), EntityTag('"b"', weak=True), EntityTag('"c"'))),
        # A comma is an etagc: it belongs to the tag when inside the quotes.
        ('"a,b", "c"', (EntityTag('"a,b"'), EntityTag('"c"'))),
        # Empty list elements are accepted (§5.6.1.2) and count for nothing.
        (', ,"a",,', (EntityTag('"a"'),)),
        ("", ()),
        (" , ", ()),
        # obs-text: a header value is Latin-1, each byte one character.
        ('"caf\xe9"', (EntityTag('"caf\xe9"'),)),
    ],
)
def test_valid_fields_parse(value: str, expected: object) -> None:
    assert parse_tags(value, field="If-None-Match") == expected


@pytest.mark.parametrize(
    "value",
    [
        "abc",  # not quoted
        '"abc',  # unterminated
        'w/"abc"',  # the weak prefix is case-sensitive
        'W/ "abc"',  # nothing between W/ and the quote
        '"a" "b"',  # no comma between the tags
        '*, "a"',  # "*" stands alone
        '"a", *',
        "**",
        '"a b"',  # SP is no etagc
        '"a"b"',  # nor is DQUOTE
        '"\x7f"',  # nor DEL
        '"a";q=1',
    ],
)
def test_malformed_fields_are_refused_naming_the_field(value: str) -> None:
    with pytest.raises(MalformedPrecondition, match="If-Match") as caught:
        parse_tags(value, field="If-Match")
    assert caught.value.status_code == 400


_ETAGC = st.characters(
    codec="latin-1", exclude_characters='"\x7f', exclude_categories=("Cc", "Zs")
).filter(lambda c: c != "\xa0" and (ord(c) >= 0x80 or 0x21 <= ord(c) <= 0x7E))
_TAGS = st.lists(
    st.builds(
        EntityTag, st.text(_ETAGC, max_size=12).map(lambda text: f'"{text}"'), weak=st.booleans()
    ),
    max_size=6,
)
_SEPARATOR = st.sampled_from([",", ", ", " ,", "\t,\t", " , , ", ",,"])


@given(_TAGS, st.data())
def test_any_list_a_client_may_send_parses_back_to_its_tags(
    tags: list[EntityTag], data: st.DataObject
) -> None:
    rendered = ""
    for index, tag in enumerate(tags):
        if index:
            rendered += data.draw(_SEPARATOR)
        rendered += str(tag)
    rendered = data.draw(st.sampled_from(["", " ", ", "])) + rendered
    assert parse_tags(rendered, field="If-None-Match") == tuple(tags)


def test_lines_of_a_list_field_are_one_list() -> None:
    assert joined([]) is None
    assert joined(['"a"', 'W/"b", "c"']) == '"a", W/"b", "c"'


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "expected"),
    [
        (None, None, Precondition.PROCEED),
        # If-Match: strong comparison; no match is 412.
        ('"abc"', None, Precondition.PROCEED),
        ("*", None, Precondition.PROCEED),
        ('"x", "abc"', None, Precondition.PROCEED),
        ('W/"abc"', None, Precondition.FAILED),
        ('"x"', None, Precondition.FAILED),
        ("", None, Precondition.FAILED),  # a list of no tags matches nothing
        # If-None-Match: weak comparison; a match is 304 for GET and HEAD.
        (None, '"abc"', Precondition.NOT_MODIFIED),
        (None, 'W/"abc"', Precondition.NOT_MODIFIED),
        (None, "*", Precondition.NOT_MODIFIED),
        (None, '"x", W/"abc"', Precondition.NOT_MODIFIED),
        (None, '"x"', Precondition.PROCEED),
        (None, '"ABC"', Precondition.PROCEED),  # opaque-tags compare octet by octet
        # §13.2.2: If-Match is evaluated first and decides when false.
        ('"x"', '"abc"', Precondition.FAILED),
        ('"abc"', '"abc"', Precondition.NOT_MODIFIED),
        ('"abc"', '"x"', Precondition.PROCEED),
    ],
)
def test_evaluation_follows_rfc_9110(
    if_match: str | None, if_none_match: str | None, expected: Precondition
) -> None:
    assert evaluate(if_match=if_match, if_none_match=if_none_match, current=CURRENT) is expected


def test_a_malformed_field_is_refused_even_where_the_other_decides() -> None:
    with pytest.raises(MalformedPrecondition, match="If-None-Match"):
        evaluate(if_match='"x"', if_none_match="abc", current=CURRENT)
    with pytest.raises(MalformedPrecondition, match="If-Match"):
        evaluate(if_match="abc", if_none_match='"abc"', current=CURRENT)


def test_the_weak_tag_of_the_current_one_never_strongly_matches() -> None:
    weak = EntityTag(CURRENT.opaque, weak=True)
    assert weak.weakly_equals(CURRENT)
    assert not weak.strongly_equals(CURRENT)
    assert not CURRENT.strongly_equals(weak)
    assert str(weak) == 'W/"abc"'
