"""How the hub logs: the two settings every command reads before anything else runs."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BeforeValidator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LogFormat(StrEnum):
    """How log records are written: a line of text, or one JSON object per line."""

    TEXT = "text"
    JSON = "json"


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
]
"""A logging level by name, in any case; anything else is refused with the names allowed."""


class LoggingSettings(BaseSettings):
    """The settings every command needs before anything else runs: how to log.

    Read on their own at the start of every command (``hub.cli.main``), so that a bad value is
    one line naming the variable, not a traceback from the logging module.
    :class:`~hub.config.settings.Settings` carries the same two fields.
    """

    model_config = SettingsConfigDict(env_prefix="KETENHUB_", extra="ignore", frozen=True)

    log_level: LogLevel = "INFO"
    log_format: LogFormat = LogFormat.TEXT
