"""Stateful fuzzing of the served hub over the OpenAPI links: upload -> share -> read -> revoke
-> read.

schemathesis's stateful mode (a Hypothesis state machine) chains the operations the links of
the served ``/openapi.json`` connect (:mod:`hub.web.links`): an upload's 201 feeds the document
id to a read, a download, a share and a delete; a share's 201 feeds the share id to a read and
a revocation; a revocation's 204 leads to reading the share again, and a share read leads to
the document it grants. Beyond the stateless fuzzing of ``tests/hub/test_api_fuzz.py`` (one
request at a time, in process), this reaches states only a sequence makes: a document shared,
then read by the grantee, then its share revoked and read again.

Who calls: IOM writes (uploads, shares, revokes, deletes); gemeente Amsterdam (GM0363) reads,
so a read after a share and a read after its revocation answer differently, and both must
conform. To get past the policy often enough to go deep, most generated requests are steered
(:meth:`Workflow.before_call`): an upload gets a real type, v-number and a PDF magic, a share
goes to GM0363 for a purpose of the policy, within its maximum. One request in
:data:`UNSTEERED` is left exactly as generated.

Checks on every answer: no 5xx, and the status, content type, headers and body as the OpenAPI
document describes them. Bounded by :data:`STATEFUL` (well under a minute per database).
"""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.web import links
from tests.security.conftest import SecurityHub

LINKED: Final = (
    "upload_api_v1_documents_post",
    links.GET_DOCUMENT,
    links.GET_CONTENT,
    # Not DELETE /documents/{id}: a shred ends a chain early, and test_api5 covers it.
    links.CREATE_SHARE,
    links.GET_SHARE,
    links.REVOKE_SHARE,
)
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
STATEFUL: Final = settings(
    max_examples=25,
    stateful_step_count=10,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
UNSTEERED: Final = 5  # one request in five is sent exactly as generated
WRITER: Final = "demo-iom"
READER: Final = "demo-gm0363"
TYPES: Final = ("travel_document",)  # the one type IOM may upload
PDF: Final = b"%PDF-1.7\n"


def _seed(case: schemathesis.Case[Any]) -> int:
    """A number from what was generated, never from ``case.id`` or an id the hub made (both
    random): Hypothesis replays a sequence and must see it steered the same way."""
    generated = case.body
    if isinstance(generated, dict):
        generated = {k: v for k, v in generated.items() if k != "document_id"}
    return zlib.crc32(repr(generated).encode())


def _steered(case: schemathesis.Case[Any]) -> bool:
    return _seed(case) % UNSTEERED != 0


def _steer_upload(body: dict[str, Any], seed: int) -> None:
    """A form the policy lets IOM upload, the metadata first (dicts keep their order, and
    schemathesis writes the parts in it); the generated title is kept."""
    generated = body.get("file")
    tail = generated if isinstance(generated, bytes) else str(generated or "").encode()
    title = body.get("title")
    body.clear()
    body["document_type"] = TYPES[seed % len(TYPES)]
    body["v_number"] = f"{seed % 10**10:010d}"
    if isinstance(title, str):
        body["title"] = title
    body["file"] = PDF + tail


def _steer_share(body: dict[str, Any]) -> None:
    body["grantee"] = "GM0363"
    body["purpose"] = "opvang"
    body["expires_at"] = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    if "document_id" in body:
        body.pop("v_number", None)
        body.pop("document_types", None)


def test_upload_share_read_revoke_read(hub: SecurityHub) -> None:
    """Stateful fuzzing over the OpenAPI links, with the demo tokens, against the served hub:
    no sequence of linked operations gives a 5xx or an answer the OpenAPI document does not
    describe. Found, and now keeps fixed: a download was served as its sniffed type
    (application/pdf, ...) while the document described application/octet-stream only.
    OWASP API8:2023 Security Misconfiguration, API1:2023 (object reads after share and
    revocation), API9:2023 Improper Inventory Management (the document is the truth);
    ASVS 5.0 V4.1.1 (Content-Type matches the actual content), V16.5.1 (no stack trace)."""
    schema = schemathesis.openapi.from_url(hub.url("/openapi.json")).include(
        operation_id=list(LINKED)
    )
    writer, reader = hub.auth(WRITER), hub.auth(READER)
    reached: set[tuple[str, int]] = set()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case[Any]) -> None:
            token = reader if case.method.upper() == "GET" else writer
            # One Authorization header, the caller's: a generated one under another spelling
            # (``authorization``) would be sent beside it and make the request a 401.
            for name in [n for n in case.headers if n.lower() == "authorization"]:
                del case.headers[name]
            case.headers.update(token)
            if not _steered(case) or not isinstance(case.body, dict):
                return
            if case.method.upper() == "POST":
                # A fresh, well-formed Idempotency-Key: generated ones are mostly malformed
                # (400) or repeat an earlier one with another body (422), and would keep the
                # chains from ever reaching a share; the unsteered requests still send them.
                case.headers["Idempotency-Key"] = f'"{uuid.uuid4()}"'
            if case.operation.definition.raw.get("operationId") == LINKED[0]:
                _steer_upload(case.body, _seed(case))
            elif case.operation.definition.raw.get("operationId") == links.CREATE_SHARE:
                _steer_share(case.body)

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"timeout": 30}

        def after_call(self, response: Any, case: schemathesis.Case[Any]) -> None:
            reached.add((f"{case.method.upper()} {case.operation.path}", response.status_code))

        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case[Any],
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    mark = hub.log_mark()
    Workflow.run(settings=STATEFUL)
    hub.assert_no_traceback_since(mark)
    assert hub.alive()
    # The chains went deep: a shallow run (every upload refused) would prove nothing.
    assert {
        ("POST /api/v1/documents", 201),
        ("POST /api/v1/shares", 201),
        ("DELETE /api/v1/shares/{share_id}", 204),
        ("GET /api/v1/shares/{share_id}", 200),
        ("GET /api/v1/documents/{document_id}", 200),  # the grantee reads what was shared
    } <= reached, sorted(reached)


@pytest.mark.parametrize(
    "operation_id",
    [links.GET_DOCUMENT, links.CREATE_SHARE, links.GET_SHARE, links.REVOKE_SHARE],
)
def test_the_served_document_links_the_workflow(hub: SecurityHub, operation_id: str) -> None:
    """The links the stateful fuzzing follows are in the served OpenAPI document and name
    operations it has (a link to nowhere would silently shorten every chain). OWASP API9:2023
    Improper Inventory Management (no ASVS 5.0 requirement: it checks the fuzzing's own
    reach)."""

    document = httpx.get(hub.url("/openapi.json"), timeout=30).json()
    operations = {
        item["operationId"] for path in document["paths"].values() for item in path.values()
    }
    targets = {
        linked["operationId"]
        for path in document["paths"].values()
        for item in path.values()
        for answer in item["responses"].values()
        for linked in answer.get("links", {}).values()
    }
    assert operation_id in targets
    assert targets <= operations
