"""Fuzzing the whole API from its own OpenAPI document with schemathesis.

schemathesis reads ``app.openapi()`` and, for every operation, sends the document's examples,
its coverage cases (boundary and schema-violating values of every parameter) and 25 generated
requests, derandomised so a run repeats. They go, in process, to a hub on SQLite and the
filesystem store, each with the token of a DTV client holding the scopes its operation needs, so
the requests pass the scope checks and reach the code behind them (one client cannot hold them
all: audit:read and admin are never combined with the casework scopes).

Two tests per operation:

- :func:`test_no_server_error` fails on any 5xx. It is strict everywhere: a 500 is a bug.
- :func:`test_answers_conform_to_the_openapi_document` fails when an answer's status, content
  type, headers or body is not the one documented, when a request that violates the document is
  accepted, when the API serves an operation without its token (schemathesis repeats requests
  without and with a wrong one), or an undeclared method with anything but 405. Operations with
  a known, reported bug (:data:`KNOWN_BUGS`) end as xfail once that bug shows, and fail once it
  no longer does, so a fix is noticed and the entry removed (a strict xfail, by hand: see
  :func:`known_bug`).

Left out: schemathesis's ``positive_data_acceptance``, which demands 2xx for every request the
document allows. The contract refuses some such requests on purpose, where no JSON Schema can
say why: a cursor the API did not issue (400), an unknown organisation, purpose or expired
share (422), content of the wrong type (415). The ``/oauth/*`` operations are fuzzed like the
rest, but with no valid client assertion they reach only their refusals.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from hub.app import create_app
from hub.config import Environment, Settings
from tests.fixtures.oauth import ISSUER, hub_settings, start_hub

CASEWORK: Final = "documents:read documents:write shares:write"
FUZZING: Final = settings(max_examples=25, deadline=None, derandomize=True, database=None)
CONFORMANCE: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
    missing_required_header,
    unsupported_method,
]


def openapi_document() -> dict[str, Any]:
    """The document as the hub serves it; building the app opens nothing (no lifespan)."""
    probe = Settings(
        environment=Environment.DEVELOPMENT,
        data_dir=Path("/nonexistent/ketenhub-openapi"),
        database_url="sqlite://",
        issuer=ISSUER,
    )
    return create_app(probe).openapi()


class HubUnderTest:
    """An ASGI app that hands every HTTP request to the hub the fixture is running.

    schemathesis sends each request, and the probes its checks add, to the schema's ``app``,
    and runs that app's lifespan itself. The hub's lifespan belongs to the fixture (its test
    client), so this stand-in answers lifespan messages on its own and forwards the rest.
    """

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if self.target is None:
            raise RuntimeError("no hub is running: request the fuzz_auth fixture")
        await self.target(scope, receive, send)


@schemathesis.serializer("application/offset+octet-stream")
def _octets(_context: object, value: object) -> bytes:
    """A tus PATCH body (hub/uploads): whatever was generated, as bytes."""
    return value if isinstance(value, bytes) else str(value).encode()


OPENAPI: Final = openapi_document()
HUB: Final = HubUnderTest()
SCHEMA: Final = schemathesis.openapi.from_dict(OPENAPI)
SCHEMA.app = HUB


class Tokens:
    """A DTV token for each duty, and which one an operation needs."""

    def __init__(self, casework: str, auditor: str, administrator: str) -> None:
        self._casework, self._auditor, self._administrator = casework, auditor, administrator

    def headers(self, case: schemathesis.Case[Any]) -> dict[str, str]:
        path, method = case.operation.path, case.method.upper()
        if path.startswith("/api/v1/audit"):
            token = self._auditor
        elif path.startswith("/api/v1/organisations") and method in {"POST", "PATCH"}:
            token = self._administrator
        else:
            token = self._casework
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def fuzz_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tokens]:
    """A hub on SQLite and the filesystem for the whole module, and DTV tokens for it."""
    tmp_path = tmp_path_factory.mktemp("fuzz")
    for hub in start_hub(hub_settings(tmp_path, f"sqlite:///{tmp_path / 'ketenhub.db'}")):
        # The operations were generated from OPENAPI; they must be this hub's.
        app = hub.client.app
        assert isinstance(app, FastAPI)
        assert app.openapi() == OPENAPI
        tokens = Tokens(
            *(
                hub.token(hub.register(organisation="DTV", scopes=scopes))
                for scopes in (CASEWORK, "audit:read", "admin")
            )
        )
        HUB.target = app
        try:
            yield tokens
        finally:
            HUB.target = None


@SCHEMA.parametrize()
@FUZZING
def test_no_server_error(case: schemathesis.Case[Any], fuzz_auth: Tokens) -> None:
    case.call_and_validate(headers=fuzz_auth.headers(case), checks=[not_a_server_error])


# -- conformance, and the bugs that break it ---------------------------------------------------

# Operations with a reported, not yet fixed conformance bug: label -> reason. None now.
KNOWN_BUGS: Final[Mapping[str, str]] = {}


def operation_labels() -> set[str]:
    return {
        f"{method.upper()} {path}" for path, item in OPENAPI["paths"].items() for method in item
    }


@dataclass
class KnownBug:
    reason: str
    seen: bool = False


@pytest.fixture
def known_bug(request: pytest.FixtureRequest) -> Iterator[KnownBug | None]:
    """This operation's entry in :data:`KNOWN_BUGS`, and a check that the bug is still there.

    Works like ``xfail(strict=True)``, which schemathesis 4.32's pytest plugin cannot take: a
    strict xfail that passes crashes the session (INTERNALERROR in its
    ``pytest_runtest_makereport``, which asserts that a failed report has an exception).
    """
    label = getattr(request.node, "operation_label", None)
    assert label in operation_labels(), f"not a schemathesis test of an operation: {label}"
    reason = KNOWN_BUGS.get(label)
    bug = None if reason is None else KnownBug(reason)
    yield bug
    if bug is not None and not bug.seen:
        pytest.fail(f"{label} conforms now: take it out of KNOWN_BUGS ({reason})")


@SCHEMA.parametrize()
# known_bug holds nothing that a generated input could change or depend on.
@settings(FUZZING, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_answers_conform_to_the_openapi_document(
    case: schemathesis.Case[Any], fuzz_auth: Tokens, known_bug: KnownBug | None
) -> None:
    try:
        case.call_and_validate(headers=fuzz_auth.headers(case), checks=CONFORMANCE)
    except FailureGroup:
        if known_bug is None:
            raise
        known_bug.seen = True
    else:
        return
    # Outside the except block, so every example ends in the same exception, without the
    # varying FailureGroup as its context that would make Hypothesis report each one apart.
    pytest.xfail(known_bug.reason)


def test_known_bugs_name_operations_of_the_api() -> None:
    assert set(KNOWN_BUGS) <= operation_labels()


def test_operation_ids_are_unique() -> None:
    # OpenAPI 3.1 section 4.8.10: operationId is unique among all operations; generated clients
    # name their methods by it.
    ids = [item["operationId"] for path in OPENAPI["paths"].values() for item in path.values()]
    assert sorted(ids) == sorted(set(ids))
