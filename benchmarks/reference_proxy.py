"""The reference proxy of ``benchmarks/api.py``: the least an encrypting document server can do.

A minimal Starlette app served by uvicorn (httptools, the event loop uvicorn picks, as the hub
runs): ``GET /objects/{key}`` reads an object stored in the hub's envelope format
(:mod:`storage.envelope`, 1 MiB segments) from S3 through ``minio`` (urllib3) and answers its
plaintext. Per segment it does one thread hop, one read of the segment's ciphertext and one
AES-GCM decryption, nothing else: no token, no database, no audit record, no range bookkeeping,
no read-ahead. The first hop also opens the object and checks its header (the key commitment
and the segment key's derivation) and the first segment, before the status line is sent; like
the hub, it never sends a byte whose tag has not verified.

Its download rate, beside raw S3's and the hub's measured in the same run, says how close the
hub comes to what any server that decrypts what it serves can reach on the same machine: every
byte crosses the machine twice more than a raw get, on cores shared with SeaweedFS and the
client. ``GET /healthz`` answers ``ok`` (for readiness).

It is started by ``benchmarks/api.py``, never deployed::

    python -m benchmarks.reference_proxy --port PORT

with ``REFERENCE_PROXY_DEK`` (64 hex digits, the data key of every object it serves; a
throwaway of the benchmark), ``REFERENCE_PROXY_BUCKET``, and the S3 endpoint and credentials in
``KETENHUB_TEST_S3_SEAWEED_*`` as in ``benchmarks/storage.py``. An object's key is a UUID, its
document id; its version is 1 and its DEK id :func:`dek_id` of the key: :func:`binding` is the
binding the benchmark encrypts with.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Final
from urllib.parse import urlsplit

import anyio.to_thread
import urllib3
import uvicorn
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from minio import Minio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

# The format's own header check and segment opening, so the proxy does exactly the hub's cipher
# steps: one HKDF and one commitment check per object, one AES-GCM open per segment.
from storage.envelope import (
    HEADER_SIZE,
    SEGMENT_SIZE,
    Binding,
    _open_header,
    _open_segment,
    hub_prefix,
    plaintext_size,
)

VERSION: Final = 1
_FIRST_SEGMENT: Final = SEGMENT_SIZE - (HEADER_SIZE - 52)  # shares its MiB with the Tink header
# Throwaway credentials of the local test server (scripts/s3-test-servers); not secrets.
S3_DEFAULTS: Final = {
    "ENDPOINT": "http://127.0.0.1:7482",
    "ACCESS_KEY": "ketenhub-test",
    "SECRET_KEY": "ketenhub-test-secret",
}


def dek_id(dek: bytes) -> bytes:
    return hashlib.sha256(b"reference-proxy" + dek).digest()[:16]


def binding(key: str, dek: bytes) -> Binding:
    return Binding(uuid.UUID(key), VERSION, dek_id(dek))


class _Object:
    """One object being served: the S3 response, the segment cipher, where the reading is."""

    def __init__(self, response: urllib3.BaseHTTPResponse, aead: AESGCM, nonce_prefix: bytes):
        self.response = response
        self.aead = aead
        self.nonce_prefix = nonce_prefix
        self.size = int(response.headers["Content-Length"])
        self.remaining = self.size - HEADER_SIZE
        self.index = 0

    def next_segment(self) -> bytes:
        """Read the next segment's ciphertext and open it: what one thread hop does."""
        length = min(_FIRST_SEGMENT if self.index == 0 else SEGMENT_SIZE, self.remaining)
        ciphertext = _read_exact(self.response, length)
        self.remaining -= length
        plaintext = _open_segment(
            self.aead,
            ciphertext,
            nonce_prefix=self.nonce_prefix,
            index=self.index,
            last=self.remaining == 0,
        )
        self.index += 1
        return plaintext

    def close(self) -> None:
        self.response.close()
        self.response.release_conn()


def _read_exact(response: urllib3.BaseHTTPResponse, length: int) -> bytes:
    data = response.read(length, decode_content=False)
    if len(data) == length:
        return data
    pieces = [data]
    got = len(data)
    while got < length:
        more = response.read(length - got, decode_content=False)
        if not more:
            raise ValueError("the object ended early")
        pieces.append(more)
        got += len(more)
    return b"".join(pieces)


def create_app(*, client: Minio, bucket: str, dek: bytes) -> Starlette:
    def open_object(key: str) -> tuple[_Object, bytes]:
        """Open, check the header, read and open the first segment (the first thread hop)."""
        response = client.get_object(bucket, key)
        try:
            expected = binding(key, dek)
            aead, nonce_prefix = _open_header(
                _read_exact(response, HEADER_SIZE),
                dek=dek,
                expected_prefix=hub_prefix(dek, expected),
                associated_data=expected.associated_data(),
            )
            opened = _Object(response, aead, nonce_prefix)
            return opened, opened.next_segment()
        except BaseException:
            response.close()
            response.release_conn()
            raise

    async def get_object(request: Request) -> Response:
        key = request.path_params["key"]
        opened, first = await anyio.to_thread.run_sync(open_object, key)
        size = plaintext_size(opened.size)

        async def body() -> AsyncIterator[bytes]:
            try:
                yield first
                while opened.remaining:
                    yield await anyio.to_thread.run_sync(opened.next_segment)
            finally:
                opened.close()

        return StreamingResponse(
            body(),
            media_type="application/octet-stream",
            headers={"Content-Length": str(size)},
        )

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/objects/{key}", get_object), Route("/healthz", healthz)],
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    def setting(name: str) -> str:
        return os.environ.get(f"KETENHUB_TEST_S3_SEAWEED_{name}", S3_DEFAULTS[name])

    endpoint = urlsplit(setting("ENDPOINT"))
    client = Minio(
        endpoint.netloc,
        access_key=setting("ACCESS_KEY"),
        secret_key=setting("SECRET_KEY"),
        secure=endpoint.scheme == "https",
    )
    app = create_app(
        client=client,
        bucket=os.environ["REFERENCE_PROXY_BUCKET"],
        dek=bytes.fromhex(os.environ["REFERENCE_PROXY_DEK"]),
    )
    uvicorn.run(
        app, host=args.host, port=args.port, http="httptools", log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
