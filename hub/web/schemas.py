"""Types that more than one feature's API takes: the v-number (in bodies only, exactly 10
ASCII digits), a document type's name, and free text a caller sets (no invisible characters,
:func:`hub.core.names.hidden_character`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from hub.core.names import hidden_character

VNumber = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{10}$"),
    Field(description="vreemdelingennummer: exactly 10 digits", examples=["1234567890"]),
]

DocumentTypeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


def _visible(value: str) -> str:
    hidden = hidden_character(value)
    if hidden is not None:
        # ValueError: pydantic answers it as a 422 naming the field.
        raise ValueError(f"text may not hold {hidden}")
    return value


VisibleText = Annotated[str, AfterValidator(_visible)]
"""Text that shows as it reads: no controls, bidi overrides or other invisible characters."""
