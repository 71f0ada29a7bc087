"""OpenAPI links (OpenAPI 3.1 §4.8.20): how one operation's answer feeds the next.

A link names its target by ``operationId`` and fills the target's parameters or request body
with runtime expressions (``$response.body#/id``, ``$request.path.share_id``). Clients and
generators read them as the API's workflows; schemathesis's stateful mode follows them to chain
upload, share, read and revoke (tests/security/test_stateful_fuzz.py).

The operation ids are FastAPI's generated ones (function name, path, method). They are written
out here, not imported, so a feature never imports another to name it; a test checks that every
link's target exists (tests/hub/apidocs/test_links.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

GET_DOCUMENT: Final = "get_document_api_v1_documents__document_id__get"
GET_CONTENT: Final = "get_content_api_v1_documents__document_id__content_get"
DELETE_DOCUMENT: Final = "delete_document_api_v1_documents__document_id__delete"
CREATE_SHARE: Final = "create_share_api_v1_shares_post"
GET_SHARE: Final = "get_share_api_v1_shares__share_id__get"
REVOKE_SHARE: Final = "revoke_share_api_v1_shares__share_id__delete"


def link(
    operation_id: str,
    description: str,
    *,
    parameters: Mapping[str, str] | None = None,
    request_body: Any = None,
) -> dict[str, Any]:
    """One Link Object: the target operation and what the answer gives it."""
    found: dict[str, Any] = {"operationId": operation_id, "description": description}
    if parameters:
        found["parameters"] = dict(parameters)
    if request_body is not None:
        found["requestBody"] = request_body
    return found


def document_links(expression: str) -> dict[str, dict[str, Any]]:
    """What can be done next with the document whose id ``expression`` gives."""
    by_id = {"document_id": expression}
    return {
        "GetDocument": link(GET_DOCUMENT, "The document's metadata", parameters=by_id),
        "GetContent": link(GET_CONTENT, "The document's content", parameters=by_id),
    }


def share_links(expression: str) -> dict[str, dict[str, Any]]:
    """What can be done next with the share whose id ``expression`` gives."""
    by_id = {"share_id": expression}
    return {
        "GetShare": link(GET_SHARE, "The share, as its grantor or grantee", parameters=by_id),
        "RevokeShare": link(REVOKE_SHARE, "Revoke the share (its grantor)", parameters=by_id),
    }
