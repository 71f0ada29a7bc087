"""People's passwords: argon2id (RFC 9106) with explicit parameters, and the rules they follow.

The stored form is the PHC string argon2-cffi writes, which carries the algorithm, version and
parameters with the salt and hash::

    $argon2id$v=19$m=19456,t=2,p=1$<salt, base64>$<hash, base64>

so a hash made with older parameters still verifies, and :meth:`Passwords.needs_rehash` says it
should be replaced (the accounts service does so after a successful login, the one moment the
password is known). The parameters are OWASP's first argon2id configuration (19 MiB, 2 passes,
1 lane), which costs tens of milliseconds per attempt on one core: a login does one, and the
hub's throttling (decision 0022) bounds how many an attacker gets.

:meth:`Passwords.verify` with no hash (an unknown user) verifies against a dummy hash made with
the same parameters, so an unknown name costs the same time as a wrong password and the answer's
timing does not tell which names exist.

The rules follow NIST SP 800-63B 3.1.1.2: at least 12 characters, at most 256 (argon2 takes any
length; the bound keeps a request from hashing megabytes), not the username; no composition
rules, and any printable character including spaces and emoji.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 256


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    """argon2id's cost: memory in KiB, passes over it, lanes."""

    memory_kib: int = 19 * 1024
    time_cost: int = 2
    parallelism: int = 1


DEFAULT_PARAMETERS: Final = Argon2Parameters()


def check_password_rules(password: str, *, username: str) -> None:
    """Raise ``ValueError`` saying what is wrong unless ``password`` may be chosen."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"a password has at most {MAX_LENGTH} characters")
    if password.casefold() == username.casefold():
        raise ValueError("a password is not the username")
    if not password.isprintable():
        raise ValueError("a password holds no control or invisible characters")


class Passwords:
    """Hashing and verifying with one set of parameters."""

    def __init__(self, parameters: Argon2Parameters = DEFAULT_PARAMETERS) -> None:
        self._hasher = PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        # A hash of a random password no one knows: what an unknown user's attempt verifies.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(32))

    def hash(self, password: str) -> str:
        """The PHC string of ``password`` under a new random salt."""
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; ``None`` (no such user) verifies against the
        dummy hash and is ``False``, at the same cost. A malformed stored hash is ``False``."""
        try:
            matched = self._hasher.verify(stored or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return matched and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters than these (or another type)."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True
