"""What every ``ketenhub`` command shares: one-line errors and loading the settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from hub.config import LoggingSettings, Settings

S = TypeVar("S", bound=BaseSettings)


class CommandError(Exception):
    """A failure to report in one line, with the exit status to use."""

    def __init__(self, message: str, *, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def load_settings() -> Settings:
    return _load(Settings)


def load_logging_settings() -> LoggingSettings:
    """Only how to log: what every command reads first (see :class:`LoggingSettings`)."""
    return _load(LoggingSettings)


def _load(kind: Callable[[], S]) -> S:
    try:
        return kind()
    except ValidationError as exc:
        reasons = "; ".join(f"{_setting(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CommandError(f"invalid configuration: {reasons}", status=2) from None


def _setting(location: tuple[int | str, ...]) -> str:
    """The environment variable an error is about (``KETENHUB_LOG_LEVEL``), or ``settings``
    for a check across several of them, whose message names them itself."""
    if not location:
        return "settings"
    first, *rest = (str(part) for part in location)
    return ".".join([f"KETENHUB_{first.upper()}", *rest])
