"""One PATCH body on its way into the store: size bound, checksum, sniffing and sealing.

:class:`Incoming` turns the body's plaintext chunks into the ciphertext of the segments they
complete (:class:`storage.envelope_resume.Resumed`), with the object's header before segment 0,
and checks on the way what tus and the policy ask of the body. Every check raises before a byte
of the chunk that failed it is sealed, and the store's put is atomic, so a refused body leaves
nothing behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator

from hub.core.errors import BadRequest, HubError, PayloadTooLarge, UnsupportedMediaType
from hub.documents.sniff import SNIFF_BYTES, sniff
from hub.rules.model import DocumentType
from hub.uploads.schemas import Checksum, ChecksumMismatch
from storage.envelope_resume import Resumed


class Unacceptable(Exception):
    """The sniffed content is not a type the document type takes: the upload must go."""

    def __init__(self, error: HubError) -> None:
        super().__init__(error.message)
        self.error = error


class Incoming:
    """The ciphertext of one PATCH body; iterate :meth:`pieces` once.

    ``content_type`` is the type sniffed so far (``None`` until the first bytes are in; the
    tail then holds everything received, so sniffing continues from it).
    """

    def __init__(
        self,
        resumed: Resumed,
        *,
        header: bytes,
        tail: bytes,
        content_type: str | None,
        document_type: DocumentType | None,
        checksum: Checksum | None,
    ) -> None:
        self.resumed = resumed
        self.first_index = resumed.index
        self.content_type = content_type
        self._header = header
        self._allowed = frozenset(document_type.content_types if document_type else ())
        self._head = bytearray(tail[:SNIFF_BYTES] if content_type is None else b"")
        self._checksum = checksum
        self._hasher = hashlib.new(checksum.algorithm) if checksum is not None else None

    def pieces(self, chunks: Iterable[bytes], *, broken: Callable[[], bool]) -> Iterator[bytes]:
        resumed = self.resumed
        for chunk in chunks:
            if len(chunk) > resumed.total - resumed.offset:
                raise PayloadTooLarge(
                    f"the body goes past the Upload-Length of {resumed.total} bytes"
                )
            if self._hasher is not None:
                self._hasher.update(chunk)
            if self.content_type is None:
                self._sniff(chunk)
            for sealed in resumed.update(chunk):
                if resumed.index == 1:  # segment 0 just sealed: the object starts with its header
                    yield self._header
                yield sealed
        if self._hasher is None or self._checksum is None:
            return
        if broken():
            raise BadRequest("the body broke off; with Upload-Checksum nothing of it is kept")
        if self._hasher.digest() != self._checksum.digest:
            raise ChecksumMismatch(
                f"the body's {self._checksum.algorithm} does not match Upload-Checksum"
            )

    def _sniff(self, chunk: bytes) -> None:
        self._head.extend(chunk[: SNIFF_BYTES - len(self._head)])
        if len(self._head) < min(SNIFF_BYTES, self.resumed.total):
            return
        detected = sniff(bytes(self._head))
        if detected is None or detected not in self._allowed:
            found = "unrecognised" if detected is None else detected
            raise Unacceptable(
                UnsupportedMediaType(
                    f"the file's content is {found}; this document type takes "
                    f"{', '.join(sorted(self._allowed))}"
                )
            )
        self.content_type = detected
