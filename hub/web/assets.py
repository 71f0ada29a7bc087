"""``/static/…``: the hub's own browser files and the ones it vendors, served by the hub itself.

The hub never loads anything from a CDN (DESIGN.md): a closed network must see the same pages.
Third-party files come from the npm registry at pinned versions and integrities, put under
``hub/static/vendor/<package>-<version>/`` by ``scripts/vendor-assets``, which also writes
``manifest.json``; :func:`vendored` finds a file through it, so a refresh to a new version
needs no code change. The hub's own files (``hub/static/apidocs/``, say) sit beside them.

Serving:

- **A fixed set.** The files are listed once, at first use, from the installed package; only
  those with a known suffix are served, each with its type set here rather than guessed from
  the machine's ``mime.types`` (``.js`` is ``text/javascript``, RFC 9239). Nothing a request
  names is ever joined to a filesystem path, so there is no traversal to get wrong.
- **From memory.** About 3 MB in all, read once; a HEAD is answered like a GET without a body.
  Ranges are not offered: the files are small and a browser never asks.
- **Cache.** A file under a versioned vendor directory never changes under its URL:
  ``public, max-age=31536000, immutable``. The hub's own files change with the hub, so they are
  revalidated on every use (``no-cache``) against their strong ``ETag`` (304 when unchanged).
  Everything else the hub answers keeps ``no-store``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Final

from fastapi import APIRouter, Request, Response

from hub.core.errors import NotFound, PreconditionFailed
from hub.web.preconditions import EntityTag, Precondition, evaluate, joined

PREFIX: Final = "/static"
_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
}
_IMMUTABLE: Final = "public, max-age=31536000, immutable"
_REVALIDATE: Final = "no-cache"
# vendor/<package>-<version>/…, as scripts/vendor-assets names the directories.
_VERSIONED: Final = re.compile(r"vendor/[a-z0-9@._-]+-\d+\.\d+\.\d+[^/]*/[^/]+")

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: EntityTag
    cache_control: str


def _root() -> Traversable:
    return resources.files("hub").joinpath("static")


def _walk(directory: Traversable, prefix: str = "") -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for entry in directory.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.update(_walk(entry, f"{name}/"))
            continue
        media_type = _TYPES.get("." + entry.name.rpartition(".")[2])
        if media_type is None:
            continue  # licences, README, manifest: shipped, not served
        body = entry.read_bytes()
        found[name] = Asset(
            body=body,
            media_type=media_type,
            etag=EntityTag(f'"{hashlib.sha256(body).hexdigest()}"'),
            cache_control=_IMMUTABLE if _VERSIONED.fullmatch(name) else _REVALIDATE,
        )
    return found


@functools.cache
def assets() -> Mapping[str, Asset]:
    """Every servable file, by its path under ``/static/``."""
    return _walk(_root())


@functools.cache
def _manifest() -> Mapping[str, dict[str, object]]:
    manifest: dict[str, dict[str, object]] = json.loads(
        _root().joinpath("vendor", "manifest.json").read_text(encoding="utf-8")
    )
    return manifest


def vendored(package: str, file: str) -> str:
    """The path under ``/static/`` of ``file`` of the vendored npm ``package``; ``LookupError``
    if ``scripts/vendor-assets`` did not vendor it or the package lacks it (a packaging
    mistake, which the pages' tests catch)."""
    entry = _manifest().get(package)
    files = entry.get("files") if entry else None
    if entry is None or not isinstance(files, dict) or file not in files:
        raise LookupError(f"{package}/{file} is not vendored: run scripts/vendor-assets")
    path = f"vendor/{entry['directory']}/{file}"
    if path not in assets():
        raise LookupError(
            f"{path} is vendored but not served (not installed, or not a type served)"
        )
    return path


@router.api_route(f"{PREFIX}/{{path:path}}", methods=["GET", "HEAD"], name="static")
def static_file(request: Request, path: str) -> Response:
    asset = assets().get(path)
    if asset is None:
        raise NotFound("no such file")
    headers = {"ETag": str(asset.etag), "Cache-Control": asset.cache_control}
    outcome = evaluate(
        if_match=joined(request.headers.getlist("if-match")),
        if_none_match=joined(request.headers.getlist("if-none-match")),
        current=asset.etag,
    )
    if outcome is Precondition.NOT_MODIFIED:
        return Response(status_code=304, headers=headers)
    if outcome is Precondition.FAILED:
        raise PreconditionFailed("the file's current ETag matches no tag of If-Match")
    return Response(asset.body, media_type=asset.media_type, headers=headers)
