"""A small tus 1.0 client over httpx for the tests: creation, HEAD, PATCH, DELETE."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from tests.fixtures.documents import API, DocumentHub

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}


def encode_metadata(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


@dataclass
class Tus:
    """tus requests as ``organisation`` (a client of its own with all scopes)."""

    hub: DocumentHub
    organisation: str = "IOM"

    @property
    def client(self) -> httpx.Client:
        return self.hub.client

    def headers(self, **extra: str) -> dict[str, str]:
        return {**self.hub.auth(self.organisation), **TUS, **extra}

    def create(
        self,
        length: int,
        *,
        document_type: str = "travel_document",
        v_number: str = "1234567890",
        metadata: str | None = None,
        **headers: str,
    ) -> httpx.Response:
        if metadata is None:
            metadata = encode_metadata(
                document_type=document_type, v_number=v_number, filename="scan.pdf"
            )
        return self.client.post(
            f"{API}/uploads",
            headers=self.headers(
                **{"Upload-Length": str(length), "Upload-Metadata": metadata}, **headers
            ),
        )

    def created(self, length: int, **kwargs: Any) -> str:
        response = self.create(length, **kwargs)
        assert response.status_code == 201, response.text
        location: str = response.headers["location"]
        return location

    def head(self, location: str) -> httpx.Response:
        return self.client.head(location, headers=self.headers())

    def patch(self, location: str, offset: int, body: bytes, **headers: str) -> httpx.Response:
        return self.client.patch(
            location,
            content=body,
            headers=self.headers(**OCTETS, **{"Upload-Offset": str(offset)}, **headers),
        )

    def delete(self, location: str) -> httpx.Response:
        return self.client.delete(location, headers=self.headers())

    def send(self, content: bytes, chunk: int, **kwargs: Any) -> httpx.Response:
        """Create and PATCH ``content`` in chunks of ``chunk`` bytes; the last answer."""
        location = self.created(len(content), **kwargs)
        offset = 0
        while True:
            response = self.patch(location, offset, content[offset : offset + chunk])
            assert response.status_code == 204, response.text
            offset = int(response.headers["upload-offset"])
            if offset == len(content):
                return response
