"""What every ``ketenhub`` command shares: one-line errors and loading the settings."""

from __future__ import annotations

from pydantic import ValidationError

from hub.config import Settings


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
