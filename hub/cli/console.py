"""What every ``ketenhub`` command shares: one-line errors, loading the settings and services,
the operator's recorder, and printing a table."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsError

from hub.config import LoggingSettings, Settings
from hub.config.secret_files import SecretFileError
from hub.runtime import Services, build_services
from hub.trail.context import Context
from hub.trail.recorder import Recorder

S = TypeVar("S", bound=BaseSettings)
# pydantic-settings names the field, not the variable, and keeps the cause apart.
_FIELD_IN_ERROR: Final = re.compile(r'field "(?P<field>\w+)"')


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
    except SettingsError as exc:
        raise CommandError(f"invalid configuration: {_describe(exc)}", status=2) from None


def _describe(exc: SettingsError) -> str:
    """One line for a variable that could not even be parsed (such as a list that is not JSON).

    The value is never quoted: a malformed variable may still hold something secret.
    """
    if isinstance(exc, SecretFileError):
        return str(exc)
    match = _FIELD_IN_ERROR.search(str(exc))
    variable = f"KETENHUB_{match['field'].upper()}" if match else "a KETENHUB_* variable"
    cause = exc.__cause__
    if isinstance(cause, json.JSONDecodeError):
        return (
            f"{variable} is not valid JSON ({cause.msg} at line {cause.lineno} column "
            f'{cause.colno}); lists are written as JSON, such as ["a", "b"]'
        )
    return f"{variable} cannot be parsed"


def _setting(location: tuple[int | str, ...]) -> str:
    """The environment variable an error is about (``KETENHUB_LOG_LEVEL``), or ``settings``
    for a check across several of them, whose message names them itself."""
    if not location:
        return "settings"
    first, *rest = (str(part) for part in location)
    return ".".join([f"KETENHUB_{first.upper()}", *rest])


@contextmanager
def command_services(settings: Settings | None = None) -> Iterator[Services]:
    """The services for one command, closed when it ends."""
    services = build_services(settings or load_settings())
    try:
        yield services
    finally:
        services.close()


def operator_recorder(services: Services) -> Recorder:
    """The recorder of one command: the operator at the command line is its actor, and every
    event it records carries the command's one trace id."""
    return Recorder(services.audit, Context.operator())


def shown(value: object) -> str:
    """``value`` as text safe for a terminal: anything not printable is escaped, as ``repr``
    would, so a name stored before the rules of :mod:`hub.core.names` cannot move the cursor."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns as wide as their widest cell, two spaces apart; the last one is not padded."""
    cells = [[shown(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        print("  ".join([*padded, row[-1]]))
