"""What every ``ketenhub`` command shares: one-line errors and loading the settings."""

from __future__ import annotations

import json
import re
from typing import Final

from pydantic import ValidationError
from pydantic_settings import SettingsError

from hub.config import Settings
from hub.secret_files import SecretFileError

# pydantic-settings names the field, not the variable, and keeps the cause apart.
_FIELD_IN_ERROR: Final = re.compile(r'field "(?P<field>\w+)"')


class CommandError(Exception):
    """A failure to report in one line, with the exit status to use."""

    def __init__(self, message: str, *, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
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
