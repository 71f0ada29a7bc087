"""Random bytes at the multipart form reader (hub/documents/form.py), in process: whatever the
body and content type, the reader answers a form or a client error (a :class:`HubError` of
status 4xx), never anything else. The same against a served hub is
tests/security/test_parser_fuzz.py.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.core.errors import HubError
from hub.documents.form import FormReader

BOUNDARY = "b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"

_LINES = st.sampled_from(
    [
        b'Content-Disposition: form-data; name="document_type"',
        b'Content-Disposition: form-data; name="v_number"',
        b'Content-Disposition: form-data; name="file"; filename="a.pdf"',
        b"Content-Disposition: form-data; name*=UTF-8''%C3%A9",
        b"Content-Type: application/pdf",
        b"Content-Transfer-Encoding: base64",
    ]
) | st.binary(max_size=60)


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=500))
    parts = [draw(st.binary(max_size=6))]
    for _ in range(draw(st.integers(0, 5))):
        lines = draw(st.lists(_LINES, max_size=3))
        value = draw(st.sampled_from([b"travel_document", b"1234567890"]) | st.binary(max_size=40))
        parts.append(b"--b0undary\r\n" + b"\r\n".join(lines) + b"\r\n\r\n" + value + b"\r\n")
    if draw(st.booleans()):
        parts.append(b"--b0undary--\r\n")
    return b"".join(parts)


@settings(max_examples=400, deadline=None)
@given(
    body=_bodies(),
    cuts=st.lists(st.integers(0, 600), max_size=4),
    content_type=st.sampled_from([CONTENT_TYPE, "multipart/form-data", "text/plain"])
    | st.text(max_size=60),
)
def test_random_bytes_are_a_form_or_a_client_error(
    body: bytes, cuts: list[int], content_type: str
) -> None:
    points = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    chunks = iter([body[a:b] for a, b in itertools.pairwise(points)])
    status = 200
    try:
        reader = FormReader(chunks, content_type)
        reader.read_fields()
        for _ in reader.file_chunks():
            pass
    except HubError as exc:
        status = exc.status_code
    assert status == 200 or 400 <= status < 500
