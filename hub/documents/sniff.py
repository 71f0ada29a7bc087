"""Content sniffing and the size limit for an upload stream.

What a client declares as a file's content type is not trusted: the hub decides from the first
bytes of the content, so a document type that takes only PDF cannot be made to store an HTML
page or an executable. The signatures, all at offset 0:

=================  ===========================  =============================================
Type               Bytes                        Source
=================  ===========================  =============================================
application/pdf    ``25 50 44 46 2D`` (%PDF-)   WHATWG MIME Sniffing §7.1 (the PDF pattern);
                                                ISO 32000-2 §7.5.2, the file header
image/jpeg         ``FF D8 FF``                 WHATWG MIME Sniffing §6.1; ITU-T T.81 Annex B
                                                (SOI marker, then the next marker's FF)
image/png          ``89 50 4E 47 0D 0A 1A 0A``  WHATWG MIME Sniffing §6.1; PNG (ISO/IEC 15948)
                                                §5.2, the PNG signature
image/tiff         ``49 49 2A 00`` (II*\\0) or   TIFF Revision 6.0 §2, the image file header:
                   ``4D 4D 00 2A`` (MM\\0*)      byte order, then 42 in that order
=================  ===========================  =============================================

WHATWG's sniffing table has no TIFF; the TIFF header is its own specification's. BigTIFF
(version 43) is not accepted, and neither is a PDF header later than offset 0, which PDF readers
tolerate but WHATWG does not.

:func:`guarded` applies the sniffing and the size limit to a stream of chunks while holding back
only the first :data:`SNIFF_BYTES` bytes, so the upload stays in constant memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from hub.core.errors import PayloadTooLarge, Unprocessable, UnsupportedMediaType

SNIFF_BYTES: Final = 8

_SIGNATURES: Final = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
# Every content type a stored document can have, so its download is served (and described) as.
SNIFFED_TYPES: Final = tuple(dict.fromkeys(content_type for _, content_type in _SIGNATURES))


def sniff(head: bytes) -> str | None:
    """The content type the first bytes of a file show, or ``None`` if unrecognised."""
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    return None


def guarded(
    chunks: Iterable[bytes],
    *,
    allowed: frozenset[str],
    max_size: int,
    on_type: Callable[[str], None],
) -> Iterator[bytes]:
    """Yield ``chunks`` unchanged once their content type is known to be ``allowed``.

    The first :data:`SNIFF_BYTES` bytes (fewer if the file is shorter) are held back and sniffed;
    ``on_type`` receives the sniffed type before any byte is yielded. Raises
    :class:`~hub.core.errors.UnsupportedMediaType` (415) for a type not in ``allowed``,
    :class:`~hub.core.errors.Unprocessable` (422) for an empty file, and
    :class:`~hub.core.errors.PayloadTooLarge` (413) as soon as more than ``max_size`` bytes have
    arrived, before any byte of the chunk that crossed the limit is yielded.
    """
    iterator = iter(chunks)
    size = 0
    held: list[bytes] = []
    head = b""
    for chunk in iterator:
        if not chunk:
            continue
        size += len(chunk)
        _check_size(size, max_size)
        held.append(chunk)
        head += chunk[: SNIFF_BYTES - len(head)]
        if len(head) == SNIFF_BYTES:
            break
    if not held:
        raise Unprocessable("the file is empty")
    detected = sniff(head)
    if detected is None or detected not in allowed:
        found = "unrecognised" if detected is None else detected
        raise UnsupportedMediaType(
            f"the file's content is {found}; this document type takes {', '.join(sorted(allowed))}"
        )
    on_type(detected)
    yield from held
    held.clear()
    for chunk in iterator:
        if not chunk:
            continue
        size += len(chunk)
        _check_size(size, max_size)
        yield chunk


def _check_size(size: int, max_size: int) -> None:
    if size > max_size:
        raise PayloadTooLarge(f"the file is larger than the limit of {_describe_size(max_size)}")


def _describe_size(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"
