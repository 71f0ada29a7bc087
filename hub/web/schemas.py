"""Types that more than one feature's API takes: the v-number (in bodies only, exactly 10
ASCII digits) and a document type's name."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

VNumber = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{10}$"),
    Field(description="vreemdelingennummer: exactly 10 digits", examples=["1234567890"]),
]

DocumentTypeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
