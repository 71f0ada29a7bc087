"""How the pages show values that are not text yet: moments in the Netherlands' time, and the
options of a select."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from hub.core.db import as_utc
from hub.pages.choices import ZONE
from hub.shares.schemas import ShareState
from hub.ui.rendering import N_

STATE_NAMES: Final[Mapping[str, str]] = {
    ShareState.ACTIVE: N_("active"),
    ShareState.EXPIRED: N_("expired"),
    ShareState.REVOKED: N_("revoked"),
    ShareState.SUSPENDED: N_("suspended"),
}


def moment(value: datetime) -> str:
    """``value`` as a person in the Netherlands reads it: ``2026-03-12 14:05``."""
    return as_utc(value).astimezone(ZONE).strftime("%Y-%m-%d %H:%M")


def options(values: Iterable[str]) -> list[tuple[str, str]]:
    """A select's (value, text) pairs for values shown as they are (codes, type names)."""
    return [(value, value) for value in values]


def page_context(**context: object) -> dict[str, object]:
    """A page's context with the helpers every page template may call."""
    return {"moment": moment, "state_names": STATE_NAMES, **context}
