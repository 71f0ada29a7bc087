"""Conditional requests (RFC 9110 §13): ``If-Match`` and ``If-None-Match`` on GET and HEAD.

A client that holds a copy asks "send it only if it changed" (``If-None-Match``, answered 304
Not Modified) or "only if it is still this one" (``If-Match``, answered 412 Precondition Failed
when it is not). The hub's validators are strong entity-tags that never change under a URL, so
the date preconditions (``If-Modified-Since``, ``If-Unmodified-Since``) are not evaluated: the
hub sends no ``Last-Modified`` and RFC 9110 §13.1.4 has the recipient ignore them then.

Grammar (§8.8.3, §13.1.1, §13.1.2)::

    If-Match      = "*" / #entity-tag
    If-None-Match = "*" / #entity-tag
    entity-tag    = [ weak ] opaque-tag
    weak          = %s"W/"                        ; case-sensitive
    opaque-tag    = DQUOTE *etagc DQUOTE
    etagc         = %x21 / %x23-7E / obs-text     ; "," is allowed inside the quotes

A ``#`` list may hold empty elements and whitespace around its commas (§5.6.1.2), and a field
sent on several lines is one list (§5.3): callers join the lines with ``", "``. ``*`` stands
alone or the field is malformed. A malformed field is refused with 400 rather than ignored
(decision 0012): guessing what a broken validator meant would either decrypt for nothing or
serve what the client asked not to get.

Evaluation (§13.2.2), after the request is otherwise known to succeed (§13.2.1: a 404 comes
first):

1. ``If-Match`` present: true for ``*`` (the resource has a representation) or when a listed
   tag equals the current one by the **strong** comparison (neither weak, same opaque-tag);
   false → 412.
2. ``If-None-Match`` present: false for ``*`` or when a listed tag equals the current one by
   the **weak** comparison (same opaque-tag, ``W/`` or not); false → 304 for GET and HEAD.
3. Otherwise proceed; ``Range`` and ``If-Range`` are the caller's next step.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final, Literal

from hub.core.errors import BadRequest

_ENTITY_TAG: Final = re.compile(r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")')
_OWS: Final = " \t"
ANY: Final = "*"


class MalformedPrecondition(BadRequest):
    """An ``If-Match`` or ``If-None-Match`` value that is not what RFC 9110 allows."""

    slug = "malformed-precondition"


@dataclass(frozen=True, slots=True)
class EntityTag:
    """An entity-tag: ``opaque`` keeps its double quotes, as it is sent."""

    opaque: str
    weak: bool = False

    def __str__(self) -> str:
        return f"W/{self.opaque}" if self.weak else self.opaque

    def strongly_equals(self, other: EntityTag) -> bool:
        return not self.weak and not other.weak and self.opaque == other.opaque

    def weakly_equals(self, other: EntityTag) -> bool:
        return self.opaque == other.opaque


def parse_tags(value: str, *, field: str) -> Literal["*"] | tuple[EntityTag, ...]:
    """``*`` or the list of entity-tags in ``value``; :class:`MalformedPrecondition` otherwise.

    A list with no element at all (``""``, ``", ,"``) is valid and matches nothing.
    """
    text = value.strip(_OWS)
    if text == ANY:
        return ANY
    tags: list[EntityTag] = []
    position, end = 0, len(text)
    while position < end:
        if text[position] in _OWS or text[position] == ",":
            position += 1  # whitespace, or an empty list element
            continue
        match = _ENTITY_TAG.match(text, position)
        if match is None:
            raise _malformed(field)
        tags.append(EntityTag(match.group(2), weak=match.group(1) is not None))
        position = match.end()
        while position < end and text[position] in _OWS:
            position += 1
        if position < end and text[position] != ",":
            raise _malformed(field)
    return tuple(tags)


def _malformed(field: str) -> MalformedPrecondition:
    return MalformedPrecondition(
        f'{field} must be "*" or a comma-separated list of entity-tags such as "abc" or W/"abc" '
        "(RFC 9110 §8.8.3)"
    )


class Precondition(enum.Enum):
    """What the preconditions of a GET or HEAD decide."""

    PROCEED = "proceed"
    NOT_MODIFIED = "not modified"  # 304
    FAILED = "precondition failed"  # 412


def evaluate(
    *, if_match: str | None, if_none_match: str | None, current: EntityTag
) -> Precondition:
    """The outcome of ``If-Match`` and ``If-None-Match`` on a GET or HEAD of a resource whose
    representation has the tag ``current``, in the order of RFC 9110 §13.2.2. Both fields are
    parsed first, so a malformed one is refused even where the other decides."""
    match_tags = None if if_match is None else parse_tags(if_match, field="If-Match")
    none_match_tags = (
        None if if_none_match is None else parse_tags(if_none_match, field="If-None-Match")
    )
    if match_tags is not None and not (
        match_tags == ANY or any(tag.strongly_equals(current) for tag in match_tags)
    ):
        return Precondition.FAILED
    if none_match_tags is not None and (
        none_match_tags == ANY or any(tag.weakly_equals(current) for tag in none_match_tags)
    ):
        return Precondition.NOT_MODIFIED
    return Precondition.PROCEED


def joined(lines: list[str]) -> str | None:
    """A list field sent on several lines as one value (RFC 9110 §5.3); ``None`` if absent."""
    return ", ".join(lines) if lines else None
