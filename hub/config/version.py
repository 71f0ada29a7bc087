"""The API's version: not a setting, since a deployment cannot choose it, but read wherever the
hub describes itself (every response's header, the OpenAPI document, traces)."""

from __future__ import annotations

from typing import Final

API_VERSION: Final = "1.0.0"
"""The API's full semantic version, sent as the ``API-Version`` header on every response."""
