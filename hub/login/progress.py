"""Where a browser is in the login, and what each step accepts: the flow's state machine.

The backend-for-frontend (the web client ``ketenhub-web``) and the authorization server share an
origin, and so the one web session (:mod:`hub.ui.sessions`); each keeps its own progress in it,
under its own key, and neither reads the other's:

- the BFF's :class:`PendingLogin`, made by ``GET /login``: the OAuth ``state``, the PKCE
  verifier and the local path to return to. ``GET /login/callback`` takes it out of the
  session (once: a second callback finds nothing) and compares ``state`` before it exchanges
  the code.
- the authorization server's :class:`Authorization`, made by ``GET /oauth/authorize`` with an
  authorization request: the validated request (its client and redirect URI are checked again
  when the code is issued, so a client disabled meanwhile gets none), the step, the user the
  password identified, and while a factor is being enrolled its key (so a page reloaded shows
  the key the person may have scanned already, not a new one).

The steps of the authorization server, each shown by ``GET /oauth/authorize`` and each the only
one that accepts its form (``POST /oauth/authorize`` names the step it was made for in the hidden
field ``step``; a form of another step is stale and changes nothing)::

    PASSWORD --password, enrolled------> FACTOR --code (TOTP or recovery)--> code issued
    PASSWORD --password, not enrolled--> ENROL --code--> ENROLLED --continue--> code issued
    any step --a new authorization request--> PASSWORD (nobody identified)
    any step --older than LOGIN_WINDOW------> gone (the next request starts again)

A refused password or code leaves the step as it was: the accounts service counts, throttles
and records every failure. The window bounds how long a password, once accepted, waits for its
second factor; the session's own idle and absolute limits bound everything else, since the
progress lives and ends with the session. Both records are JSON text, as the session stores
them (sealed, :attr:`hub.websessions.store.WebSession.progress`); a value that does not parse
is treated as absent, never as an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final, Self

from auth.code_grant import AuthorizationRequest

LOGIN_WINDOW: Final = timedelta(minutes=10)
"""How long one authorization may take from its request to its code, factor step included."""

MAX_PENDING_AGE: Final = timedelta(minutes=15)
"""How long the BFF waits for its callback: the authorization's window and a margin."""

PENDING_KEY: Final = "login"
"""The web session's key for the BFF's :class:`PendingLogin`."""
AUTHORIZATION_KEY: Final = "authorize"
"""The web session's key for the authorization server's :class:`Authorization`."""


class Step(StrEnum):
    """A step of the authorization server's login (see the module docstring)."""

    PASSWORD = "password"  # noqa: S105  # the step's name, not a password
    FACTOR = "factor"
    ENROL = "enrol"
    ENROLLED = "enrolled"

    @property
    def fields(self) -> frozenset[str]:
        """The form fields the step accepts, besides ``csrf_token`` and ``step``."""
        return _FIELDS[self]

    @property
    def identified(self) -> bool:
        """Whether the step is past the password: a user is known, awaiting more."""
        return self is not Step.PASSWORD


_FIELDS: Final[Mapping[Step, frozenset[str]]] = {
    Step.PASSWORD: frozenset({"username", "password"}),
    Step.FACTOR: frozenset({"code"}),
    Step.ENROL: frozenset({"code"}),
    Step.ENROLLED: frozenset(),
}


class StepMismatch(Exception):
    """A form made for another step than the one the login is in (a stale tab, a replay)."""


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


_REQUEST_FIELDS: Final = tuple(f.name for f in fields(AuthorizationRequest))


def _request(value: object) -> AuthorizationRequest | None:
    if not isinstance(value, Mapping) or set(value) != set(_REQUEST_FIELDS):
        return None
    if not all(isinstance(value[name], str) for name in _REQUEST_FIELDS):
        return None
    return AuthorizationRequest(**{name: value[name] for name in _REQUEST_FIELDS})


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class _Stored:
    """A record the web session keeps as JSON text (``progress`` holds strings only)."""

    __slots__ = ()

    def to_json(self) -> dict[str, object]:
        raise NotImplementedError

    @classmethod
    def from_json(cls, data: object, *, now: datetime) -> Self | None:
        raise NotImplementedError

    def encode(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None, *, now: datetime) -> Self | None:
        """The record stored as ``text``; ``None`` when absent, malformed or expired."""
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return cls.from_json(data, now=now)


@dataclass(frozen=True, slots=True)
class Authorization(_Stored):
    """The authorization server's progress: which request, which step, whom the password named."""

    request: AuthorizationRequest
    step: Step
    started_at: datetime
    user_id: str | None = None
    enrolment_uri: str | None = None
    """While enrolling: the ``otpauth://`` URI of the key shown (it holds the key)."""

    @classmethod
    def begin(cls, request: AuthorizationRequest, *, now: datetime) -> Authorization:
        """A new authorization request: back to the password, whoever was identified before."""
        return cls(request, Step.PASSWORD, now)

    def expired(self, *, now: datetime) -> bool:
        return now - self.started_at >= LOGIN_WINDOW

    def expect(self, step: str | None) -> None:
        """Raise :class:`StepMismatch` unless a form made for ``step`` is for this step."""
        if step != self.step.value:
            raise StepMismatch(f"a form of step {step!r} reached step {self.step.value!r}")

    def password_accepted(self, *, user_id: str, enrolled: bool) -> Authorization:
        """The password named ``user_id``: on to the factor, or to enrolling one first."""
        self._require(Step.PASSWORD)
        return replace(self, step=Step.FACTOR if enrolled else Step.ENROL, user_id=user_id)

    def enrolling(self, uri: str) -> Authorization:
        """The key being enrolled, kept so the page shows the same one until it is confirmed."""
        self._require(Step.ENROL)
        return replace(self, enrolment_uri=uri)

    def factor_enrolled(self) -> Authorization:
        """The first code confirmed the new factor: the recovery codes are shown, then on."""
        self._require(Step.ENROL)
        return replace(self, step=Step.ENROLLED, enrolment_uri=None)

    def ready_to_enrol(self) -> str:
        """The user whose factor is being enrolled; raises unless at that step."""
        if self.step is not Step.ENROL or self.user_id is None:
            raise StepMismatch(f"no factor is enrolled at step {self.step.value!r}")
        return self.user_id

    def ready_for_code(self) -> str:
        """The user for whom a code may be issued now; raises unless both factors are done."""
        if self.step not in (Step.FACTOR, Step.ENROLLED) or self.user_id is None:
            raise StepMismatch(f"no code may be issued at step {self.step.value!r}")
        return self.user_id

    def _require(self, step: Step) -> None:
        if self.step is not step:
            raise StepMismatch(f"step {self.step.value!r} cannot do what step {step.value!r} does")

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "request": asdict(self.request),
            "step": self.step.value,
            "started_at": self.started_at.isoformat(),
        }
        if self.user_id is not None:
            data["user_id"] = self.user_id
        if self.enrolment_uri is not None:
            data["enrolment_uri"] = self.enrolment_uri
        return data

    @classmethod
    def from_json(cls, data: object, *, now: datetime) -> Self | None:
        """The progress stored in ``data``; ``None`` when absent, malformed or expired."""
        if not isinstance(data, Mapping):
            return None
        request = data.get("request")
        started_at = _time(data.get("started_at"))
        try:
            step = Step(str(data.get("step")))
        except ValueError:
            return None
        parsed = _request(request)
        user_id = _text(data.get("user_id"))
        if started_at is None or parsed is None or step.identified != (user_id is not None):
            return None
        uri = _text(data.get("enrolment_uri")) if step is Step.ENROL else None
        found = cls(parsed, step, started_at, user_id, uri)
        return None if found.expired(now=now) else found


@dataclass(frozen=True, slots=True)
class PendingLogin(_Stored):
    """The BFF's side: what it sent to the authorization server and where the person goes next."""

    state: str
    verifier: str
    next_path: str
    started_at: datetime

    def expired(self, *, now: datetime) -> bool:
        return now - self.started_at >= MAX_PENDING_AGE

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "verifier": self.verifier,
            "next": self.next_path,
            "started_at": self.started_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: object, *, now: datetime) -> Self | None:
        """The pending login stored in ``data``; ``None`` when absent, malformed or expired."""
        if not isinstance(data, Mapping):
            return None
        state, verifier, next_path = (
            _text(data.get("state")),
            _text(data.get("verifier")),
            _text(data.get("next")),
        )
        started_at = _time(data.get("started_at"))
        if state is None or verifier is None or next_path is None or started_at is None:
            return None
        found = cls(state, verifier, next_path, started_at)
        return None if found.expired(now=now) else found


def utcnow() -> datetime:
    return datetime.now(UTC)
