"""How a route takes an ``Idempotency-Key`` (:mod:`hub.idempotency`): the header's OpenAPI
description, claiming the key for the route's service with every refusal recorded, keeping a
claim alive while a body streams, and the headers of a replayed answer.

A route::

    begun = begin(service, request.headers, action=Action.SHARE_CREATE, about=About("share"),
                  fingerprint=fingerprint({...}))
    if isinstance(begun, Replay):
        return JSONResponse(render(begun.answer), status_code=begun.answer.status,
                            headers=replay_headers(begun.answer))
    ...the work...
    if begun is not None:
        begun.complete(service.session, Answer(...))

A malformed key (400), a key still in progress (409) and a key reused for another request (422)
are refused as the route's own action (``document.upload``, ``share.create``,
``upload.create``): undone, recorded, raised. A replay records nothing: its answer, receipt
included, is the first request's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Final

from sqlalchemy import Engine
from starlette.datastructures import Headers

from audit.events import Action
from hub.core.errors import HubError
from hub.idempotency.keys import (
    HEADER,
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    KeyInProgress,
    caller_key,
    parse_key,
)
from hub.idempotency.service import Answer, Claim, Idempotency, Replay
from hub.trail.recorder import About
from hub.web.recording import RecordingService

RENEW_EVERY: Final = 60.0
"""Seconds between two renewals of a claim's lease while its request's body streams."""

PARAMETER: Final[dict[str, Any]] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH + 2},
    "example": '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
    "description": "draft-ietf-httpapi-idempotency-key-header: a quoted string (RFC 8941 "
    f"sf-string) of 1 to {MAX_KEY_LENGTH} printable ASCII characters, new for each request, "
    "such as a UUID. The same key with the same request within 24 hours answers the first "
    f"result again (status, body, `Location`, receipt) with `{REPLAYED_HEADER}: true`; with "
    "another request 422; while the first still runs 409. A first request that failed keeps "
    "nothing, so its key may be used again.",
}
"""The header in an operation's ``parameters`` (``openapi_extra``)."""

CREATED_HEADERS: Final[dict[str, Any]] = {
    "Location": {"schema": {"type": "string"}, "description": "The new resource"},
    REPLAYED_HEADER: {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "Present on a replay: the first answer to this `Idempotency-Key` again, "
        "its receipt included; nothing was done or recorded anew",
    },
}
"""The headers of a 201 that may be a replay, for its ``responses``."""

PROBLEMS: Final[dict[str, str]] = {
    "400": "Malformed `Idempotency-Key`",
    "409": "A request with this `Idempotency-Key` is still being processed",
    "422": "This `Idempotency-Key` was used for another request",
}
"""What the header adds to an operation's refusals, for its ``responses``."""


def begin(
    service: RecordingService,
    headers: Headers,
    *,
    action: Action,
    about: About,
    fingerprint: str | None,
) -> Replay | Claim | None:
    """The request's claim on its key (bound to the request's transaction), the replay of the
    key's first answer, or ``None`` for a request without a key. Refusals are recorded as
    ``action`` about ``about``.

    A replay with ``fingerprint=None`` must be :func:`checked <check>` before it is answered.
    Call it before the request's session has written anything (see
    :meth:`hub.idempotency.service.Idempotency.begin`).
    """
    try:
        key = parse_key(headers.getlist(HEADER))
        if key is None:
            return None
        bind = service.session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        begun = Idempotency(
            engine, caller=caller_key(service.caller.principal), operation=action.value
        ).begin(key, fingerprint)
    except HubError as exc:
        raise service.refuse(exc, action, about, detail=exc.slug) from None
    if isinstance(begun, Claim):
        begun.bind(service.session)
    return begun


def check(
    service: RecordingService, replay: Replay, fingerprint: str, *, action: Action, about: About
) -> None:
    """:meth:`Replay.check`, the refusal recorded as ``action``."""
    try:
        replay.check(fingerprint)
    except HubError as exc:
        raise service.refuse(exc, action, about, detail=exc.slug) from None


def replay_headers(answer: Answer) -> dict[str, str]:
    """The headers of the replayed ``answer``: the first one's, and ``Idempotent-Replayed``."""
    return {**answer.headers, REPLAYED_HEADER: "true"}


def renewing(
    chunks: Iterator[bytes],
    claim: Claim | None,
    *,
    every: float = RENEW_EVERY,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """``chunks``, renewing ``claim``'s lease at most every ``every`` seconds while they come,
    so a long upload's claim is never taken over; :class:`KeyInProgress` (409) if it was."""
    if claim is None:
        yield from chunks
        return
    last = monotonic()
    for chunk in chunks:
        if monotonic() - last >= every:
            if not claim.renew():
                raise KeyInProgress("this upload's Idempotency-Key was taken over by another")
            last = monotonic()
        yield chunk
