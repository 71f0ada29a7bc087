"""Secret settings read from files: ``KETENHUB_<NAME>_FILE`` for every secret ``KETENHUB_<NAME>``.

Container platforms hand secrets to a process as files (Docker and compose ``secrets:`` under
``/run/secrets/``, Kubernetes secret volumes), so that they stay out of the environment, which
``docker inspect``, ``/proc/<pid>/environ`` and crash reporters show. For every setting typed
:class:`~pydantic.SecretStr` (the database URLs, the S3 credentials, and any added later),
``KETENHUB_<NAME>_FILE=/run/secrets/…`` reads the value from that file:

- one trailing newline (``\\n`` or ``\\r\\n``, as editors and ``echo`` leave) is stripped, and
  nothing else, so a secret that really ends in spaces keeps them;
- setting both ``KETENHUB_<NAME>`` and ``KETENHUB_<NAME>_FILE`` is refused: which one wins would
  be a guess;
- a file that cannot be read, is empty, or is larger than :data:`MAX_SECRET_FILE` is refused
  with one line naming the variable and the reason, never the file's content.

Values passed to ``Settings(...)`` directly still take precedence (tests build settings so).
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any, Final

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsError

MAX_SECRET_FILE: Final = 64 * 1024
"""A password, key or URL is far smaller; a larger file is the wrong file."""

SUFFIX: Final = "_FILE"


class SecretFileError(SettingsError):
    """A ``KETENHUB_*_FILE`` variable that cannot be used. The message is one line for the
    operator and never holds a secret."""


def is_secret(field: FieldInfo) -> bool:
    """Whether the field holds a secret (``SecretStr`` or ``SecretStr | None``)."""
    annotation = field.annotation
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


class SecretFilesSource(PydanticBaseSettingsSource):
    """Settings source for the ``*_FILE`` variables of the secret settings; see the module."""

    def __init__(self, settings_cls: type[BaseSettings], *, prefix: str) -> None:
        super().__init__(settings_cls)
        self._prefix = prefix

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Part of the abstract interface; this source produces all its values in __call__.
        raise NotImplementedError

    def __call__(self) -> dict[str, Any]:
        # Environment names are matched case-insensitively, as pydantic-settings matches the
        # plain variables; the messages use the canonical upper-case spelling.
        environ = {name.upper(): value for name, value in os.environ.items()}
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            if not is_secret(field):
                continue
            variable = f"{self._prefix}{name}".upper()
            path = environ.get(variable + SUFFIX)
            if path is None:
                continue
            if variable in environ:
                raise SecretFileError(f"set {variable} or {variable}{SUFFIX}, not both")
            values[name] = read_secret_file(variable + SUFFIX, path)
        return values


def read_secret_file(variable: str, path: str) -> str:
    """The secret in ``path``, without one trailing newline; ``variable`` names it in errors."""
    if not path:
        raise SecretFileError(f"{variable} is empty; it must name a file")
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise SecretFileError(f"{variable}: cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_SECRET_FILE:
        raise SecretFileError(f"{variable}: {path} is larger than {MAX_SECRET_FILE} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretFileError(f"{variable}: {path} is not UTF-8 text") from None
    if text.endswith("\n"):
        text = text[:-1].removesuffix("\r")
    if not text:
        raise SecretFileError(f"{variable}: {path} is empty")
    return text
