"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc): the API description, readable on a closed network.

FastAPI's own pages load both from a CDN and are blank where the hub usually runs. These pages
load the copies the hub vendors (:mod:`hub.web.assets`) and start them with a static script, under a
Content-Security-Policy of their own, stricter than a page that trusts a CDN could have:

- ``script-src 'nonce-…'``: a fresh 128-bit nonce per answer, on each ``<script>`` of the page;
  no ``'self'``, no ``'unsafe-inline'``, no ``'unsafe-eval'``. A script elsewhere on the hub's
  origin does not run here unless the page names it.
- ``style-src 'self' 'nonce-…'``: the vendored style sheets, and the ``<style>`` elements ReDoc
  writes at run time (it is handed the nonce). No ``'unsafe-inline'`` for styles either.
- ``connect-src 'self'``: ``/openapi.json``, and Swagger UI's "Try it out" against this hub only.
- ``img-src 'self' data:`` (the icons in Swagger UI's style sheet), plus ``blob:`` on ``/docs``,
  where "Try it out" shows an image it downloaded; ``worker-src blob:`` on ``/redoc``, whose
  search runs in a worker built from a blob.
- ``default-src 'none'``, ``frame-ancestors 'none'``, ``base-uri 'none'``, ``form-action 'self'``.

The pages are built per request (the nonce) and, like every answer of the hub, not stored
(``no-store``). ``/docs/oauth2-redirect`` is not served: the API's only security scheme is a
bearer token pasted into Swagger UI's "Authorize", never an OAuth flow run in the browser.
See decision 0012.
"""

from __future__ import annotations

import base64
import html
import secrets
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hub.web.assets import PREFIX, vendored

router = APIRouter(include_in_schema=False)

TITLE: Final = "Ketenhub API"


def new_nonce() -> str:
    """128 random bits, base64 (CSP3 ``base64-value``)."""
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def content_security_policy(nonce: str, *, images: str = "", workers: str = "") -> str:
    """The pages' policy; ``images`` and ``workers`` add sources where one page needs them."""
    directives = {
        "default-src": "'none'",
        "script-src": f"'nonce-{nonce}'",
        "style-src": f"'self' 'nonce-{nonce}'",
        "img-src": f"'self' data: {images}".strip(),
        "font-src": "'self'",
        "connect-src": "'self'",
        "worker-src": workers or "'none'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
    }
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


def _page(
    request: Request,
    *,
    nonce: str,
    heading: str,
    container: str,
    styles: list[str],
    scripts: list[str],
) -> str:
    """The page: a container that tells the script where ``/openapi.json`` is, the vendored
    style sheets, and the scripts in order, each carrying the nonce. Paths are root-relative
    (with the ASGI ``root_path``), never built from the request's ``Host``."""
    root = request.scope.get("root_path", "")
    openapi_url = root + (request.app.openapi_url or "/openapi.json")

    def static(path: str) -> str:
        return html.escape(f"{root}{PREFIX}/{path}")

    links = "".join(f'\n    <link rel="stylesheet" href="{static(path)}">' for path in styles)
    tags = "".join(
        f'\n    <script nonce="{html.escape(nonce)}" src="{static(path)}"></script>'
        for path in scripts
    )
    return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{html.escape(f"{TITLE}: {heading}")}</title>
    <link rel="icon" href="data:,">{links}
  </head>
  <body>
    <div id="{container}" data-openapi-url="{html.escape(openapi_url)}"></div>{tags}
  </body>
</html>
"""


@router.api_route("/docs", methods=["GET", "HEAD"])
def swagger_ui(request: Request) -> HTMLResponse:
    nonce = new_nonce()
    page = _page(
        request,
        nonce=nonce,
        heading="Swagger UI",
        container="swagger-ui",
        styles=[vendored("swagger-ui-dist", "swagger-ui.css")],
        scripts=[vendored("swagger-ui-dist", "swagger-ui-bundle.js"), "apidocs/swagger-ui-init.js"],
    )
    policy = content_security_policy(nonce, images="blob:")
    return HTMLResponse(page, headers={"Content-Security-Policy": policy})


@router.api_route("/redoc", methods=["GET", "HEAD"])
def redoc(request: Request) -> HTMLResponse:
    nonce = new_nonce()
    page = _page(
        request,
        nonce=nonce,
        heading="ReDoc",
        container="redoc",
        styles=[],
        scripts=[vendored("redoc", "redoc.standalone.js"), "apidocs/redoc-init.js"],
    )
    policy = content_security_policy(nonce, workers="blob:")
    return HTMLResponse(page, headers={"Content-Security-Policy": policy})
