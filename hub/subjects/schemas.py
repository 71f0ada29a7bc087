"""The v-number as the API takes it: in bodies only, exactly 10 ASCII digits."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

VNumber = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{10}$"),
    Field(description="vreemdelingennummer: exactly 10 digits", examples=["1234567890"]),
]
