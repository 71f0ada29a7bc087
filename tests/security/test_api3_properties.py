"""API3:2023 Broken Object Property Level Authorization: which properties a caller may see,
and which it may set.

- A case share names its person by v-number. The former grantee of a revoked or expired case
  share still saw that v-number in ``GET /shares`` and ``GET /shares/{id}``: a grantee now sees
  it only while the share grants; the grantor always does.
- Text properties a caller sets (a document's title, a share's purpose, an organisation's name,
  the policy question's document type) accepted bidi overrides and other invisible format
  characters, which reorder or hide text where it is shown; they are refused with 422 naming
  the field. An uploaded file's name is kept only with such characters removed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx
import pytest

from tests.security.conftest import SecurityHub

API = "/api/v1"
_cases = count(5310000001)


def _expiry(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="milliseconds")


def _case_share(hub: SecurityHub, v_number: str, expires_at: str) -> dict[str, Any]:
    response = httpx.post(
        hub.url(f"{API}/shares"),
        json={
            "grantee": "GM0363",
            "v_number": v_number,
            "document_types": ["travel_document"],
            "purpose": "terugkeer",
            "expires_at": expires_at,
        },
        headers=hub.auth("demo-iom"),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _as_seen_by(hub: SecurityHub, client_id: str, share_id: str) -> list[dict[str, Any]]:
    """The share as ``client_id`` sees it: alone, and in its list of shares."""
    headers = hub.auth(client_id)
    one = httpx.get(hub.url(f"{API}/shares/{share_id}"), headers=headers, timeout=30)
    assert one.status_code == 200, one.text
    listed = httpx.get(
        hub.url(f"{API}/shares"), params={"limit": 500}, headers=headers, timeout=30
    ).json()["items"]
    return [one.json(), *(s for s in listed if s["id"] == share_id)]


def test_a_former_grantee_no_longer_sees_the_case_v_number(hub: SecurityHub) -> None:
    """A revoked case share and an expired one show the grantee ``v_number: null`` (the
    grantor still sees it); while active, the grantee sees it (OWASP API3:2023; ASVS 5.0
    V8.2.3 field-level access, V14.2.6 only the sensitive data needed)."""
    v_number = str(next(_cases))
    revoked = _case_share(hub, v_number, _expiry(timedelta(days=7)))
    short = _case_share(hub, v_number, _expiry(timedelta(seconds=1.5)))
    for seen in _as_seen_by(hub, "demo-gm0363", revoked["id"]):
        assert seen["v_number"] == v_number, seen
    revoke = httpx.delete(
        hub.url(f"{API}/shares/{revoked['id']}"), headers=hub.auth("demo-iom"), timeout=30
    )
    assert revoke.status_code == 204, revoke.text
    wait = datetime.fromisoformat(short["expires_at"]) - datetime.now(UTC)
    time.sleep(max(wait.total_seconds() + 0.1, 0))
    for share, state in ((revoked, "revoked"), (short, "expired")):
        for seen in _as_seen_by(hub, "demo-gm0363", share["id"]):
            assert seen["state"] == state, seen
            assert seen["v_number"] is None, seen
        for seen in _as_seen_by(hub, "demo-iom", share["id"]):
            assert seen["v_number"] == v_number, seen


# Bidi embeddings, overrides and isolates; zero-width and other format characters; C0 and C1
# controls; line and paragraph separators.
INVISIBLE = [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069",
    "\u200b", "\u200e", "\u200f", "\u061c", "\ufeff",
    "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029",
]  # fmt: skip


def _detail(response: httpx.Response) -> str:
    assert response.status_code == 422, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    detail: str = response.json()["detail"]
    return detail


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_text_fields_refuse_invisible_characters(hub: SecurityHub, char: str) -> None:
    """Each text field a caller sets refuses the character with 422 naming the field, and
    nothing is stored; a file name keeps none of it (OWASP API3:2023; ASVS 5.0 V2.2.1
    input validated against its expected structure)."""
    mark = hub.log_mark()
    text = f"invoice{char}fdp.exe"
    with httpx.Client(base_url=hub.base_url, timeout=30) as client:
        title = client.post(
            f"{API}/documents",
            data={"document_type": "travel_document", "v_number": "1234567890", "title": text},
            files={"file": ("doc.pdf", b"%PDF-1.7 travel document\n", "application/pdf")},
            headers=hub.auth("demo-iom"),
        )
        assert "title" in _detail(title)
        purpose = client.post(
            f"{API}/shares",
            json={
                "grantee": "GM0363",
                "v_number": "1234567890",
                "document_types": ["travel_document"],
                "purpose": f"terug{char}keer",
                "expires_at": _expiry(timedelta(days=1)),
            },
            headers=hub.auth("demo-iom"),
        )
        assert "purpose" in _detail(purpose)
        name = client.post(
            f"{API}/organisations",
            json={"code": "GM9999", "name": text, "kind": "gemeente"},
            headers=hub.auth("demo-admin"),
        )
        assert "name" in _detail(name)
        explain = client.post(
            f"{API}/policy/explain",
            json={"organisation": "IOM", "action": "read", "document_type": text},
            headers=hub.auth("demo-iom"),
        )
        assert "document_type" in _detail(explain)
        upload = client.post(
            f"{API}/documents",
            data={"document_type": "travel_document", "v_number": "1234567890"},
            files={"file": (text, b"%PDF-1.7 travel document\n", "application/pdf")},
            headers=hub.auth("demo-iom"),
        )
    assert upload.status_code == 201, upload.text
    if char != "\x00":  # httpx sends a NUL in a file name as the text %00
        filename = upload.json()["filename"]
        assert char not in filename
        assert filename.replace(" ", "") == "invoicefdp.exe", filename
    hub.assert_no_traceback_since(mark)
