"""How long a name or an address waits after failed logins, and when a name is locked.

Two counters per attempt, each a row of ``user_login_throttle`` shared by every replica:

- the **typed name** (``name:<SHA-256 of it>``): consecutive failures of the password or the
  second factor, until a complete login. The first :attr:`ThrottlePolicy.name_free` are free,
  then the wait doubles (1, 2, 4 ... s, at most :attr:`ThrottlePolicy.cap` seconds), and at
  :attr:`ThrottlePolicy.lock_after` the name is locked until an administrator runs ``ketenhub
  user unlock``. Names without an account are counted and locked alike, so neither the waits
  nor the lock tell which names exist.
- the **source address** (``address:<IP>``): every failure from it, forgotten after
  :attr:`ThrottlePolicy.address_window` without one; more are free (an office shares one
  address) and it is never locked, so one address cannot lock everyone out.

An attempt while either waits is refused before the password is looked at, and does not count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from auth.models import UserLoginThrottle
from hub.core.db import as_utc

_MAX_TYPED: Final = 256


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    name_free: int = 3
    address_free: int = 10
    cap: float = 60.0
    lock_after: int = 10
    address_window: timedelta = timedelta(minutes=15)


def name_subject(typed: str) -> str:
    """The throttle row of a typed name: its hash, never the text (it may be a password)."""
    normalised = typed.strip().lower()[:_MAX_TYPED]
    return "name:" + hashlib.sha256(normalised.encode("utf-8", "replace")).hexdigest()


def address_subject(address: str) -> str:
    return "address:" + address[:64]


def is_address(row: UserLoginThrottle) -> bool:
    return row.subject.startswith("address:")


def waiting(rows: Sequence[UserLoginThrottle], *, now: datetime) -> float | None:
    """Seconds until an attempt may be made; ``None`` when it may be made now. A locked name
    waits :data:`LOCKED` (an administrator must unlock it)."""
    longest: float | None = None
    for row in rows:
        if row.locked_at is not None:
            return LOCKED
        if row.blocked_until is not None:
            left = (as_utc(row.blocked_until) - now).total_seconds()
            if left > 0 and (longest is None or left > longest):
                longest = left
    return longest


LOCKED: Final = 3600.0
"""What a locked name is told to wait: long, but a number, so the answer has the same shape as
a throttled one."""


def fail(row: UserLoginThrottle, policy: ThrottlePolicy, *, now: datetime) -> bool:
    """Count a failure on ``row``; ``True`` when it locked the name just now."""
    address = is_address(row)
    last = as_utc(row.last_failure_at) if row.last_failure_at is not None else None
    if address and last is not None and now - last > policy.address_window:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    free = policy.address_free if address else policy.name_free
    if row.failures > free:
        delay = min(2.0 ** (row.failures - free - 1), policy.cap)
        row.blocked_until = now + timedelta(seconds=delay)
    if not address and row.locked_at is None and row.failures >= policy.lock_after:
        row.locked_at = now
        return True
    return False


def succeed(row: UserLoginThrottle) -> None:
    """A complete login: the name's count starts again (an address's does not)."""
    if not is_address(row):
        row.failures = 0
        row.blocked_until = None
