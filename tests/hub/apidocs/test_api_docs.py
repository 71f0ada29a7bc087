"""The API docs pages and the static files behind them, without a browser (that is
``test_api_docs_browser.py``): what the pages name and send, what ``/static/`` serves and how,
and that the vendored files are the ones ``scripts/vendor-assets`` wrote."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Final

import httpx
import pytest

from hub.web.assets import assets, vendored
from tests.fixtures.oauth import hub_settings, start_hub

VENDOR: Final = resources.files("hub").joinpath("static", "vendor")
MANIFEST: Final = json.loads(VENDOR.joinpath("manifest.json").read_text())


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp_path = tmp_path_factory.mktemp("apidocs")
    for hub in start_hub(hub_settings(tmp_path, f"sqlite:///{tmp_path / 'ketenhub.db'}")):
        yield hub.client


def test_the_vendored_files_are_those_the_manifest_records() -> None:
    assert set(MANIFEST) == {
        "swagger-ui-dist",
        "redoc",
        "@rijkshuisstijl-community/components-css",
        "@rijkshuisstijl-community/design-tokens",
    }
    for package, entry in MANIFEST.items():
        directory = VENDOR.joinpath(entry["directory"])
        # A scoped name (@scope/name) is one directory: scope-name-version.
        flat = package.removeprefix("@").replace("/", "-")
        assert entry["directory"] == f"{flat}-{entry['version']}"
        assert entry["integrity"].startswith("sha512-")
        # the licence travels with the code
        assert {"LICENSE", "LICENSE.md"} & set(entry["files"]), package
        on_disk = {item.name for item in directory.iterdir()}
        assert on_disk == set(entry["files"]), package
        for name, sha256 in entry["files"].items():
            assert hashlib.sha256(directory.joinpath(name).read_bytes()).hexdigest() == sha256, name


@pytest.mark.parametrize(("path", "scripts"), [("/docs", 2), ("/redoc", 2)])
def test_a_page_loads_only_the_hubs_files_each_script_with_the_nonce(
    client: httpx.Client, path: str, scripts: int
) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    policy = answer.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy)
    assert nonce is not None
    page = answer.text
    tags = re.findall(r"<script ([^>]*)>", page)
    assert len(tags) == scripts
    for tag in tags:
        assert f'nonce="{nonce.group(1)}"' in tag
        assert re.search(r'src="/static/[^"]+"', tag)
    assert "<script>" not in page  # no inline script
    assert "http" not in page  # nothing named by absolute URL, no CDN
    assert 'data-openapi-url="/openapi.json"' in page
    assert client.get(path).headers["content-security-policy"] != policy


def test_fastapis_cdn_pages_are_gone(client: httpx.Client) -> None:
    assert client.get("/docs/oauth2-redirect").status_code == 404
    assert "cdn.jsdelivr.net" not in client.get("/docs").text


@pytest.mark.parametrize(
    ("package", "file", "media_type"),
    [
        ("swagger-ui-dist", "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-ui-dist", "swagger-ui.css", "text/css; charset=utf-8"),
        ("redoc", "redoc.standalone.js", "text/javascript; charset=utf-8"),
    ],
)
def test_vendored_files_are_served_with_their_type_for_a_year(
    client: httpx.Client, package: str, file: str, media_type: str
) -> None:
    path = vendored(package, file)
    answer = client.get(f"/static/{path}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == media_type
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.content == VENDOR.joinpath(*path.split("/")[1:]).read_bytes()
    head = client.head(f"/static/{path}")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(answer.content))


def test_the_hubs_own_files_are_revalidated(client: httpx.Client) -> None:
    answer = client.get("/static/apidocs/swagger-ui-init.js")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-cache"
    tag = answer.headers["etag"]
    again = client.get("/static/apidocs/swagger-ui-init.js", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    assert (
        client.get("/static/apidocs/swagger-ui-init.js", headers={"If-Match": '"x"'}).status_code
        == 412
    )


@pytest.mark.parametrize(
    "path",
    [
        "/static/vendor/manifest.json",  # shipped, not served
        "/static/vendor/README.md",
        f"/static/vendor/{MANIFEST['redoc']['directory']}/LICENSE",
        "/static/../config.py",
        "/static/%2e%2e/config.py",
        "/static/apidocs/../../config.py",
        "/static/apidocs/",
        "/static/",
        "/static/nothing.js",
    ],
)
def test_nothing_else_is_served(client: httpx.Client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_only_known_types_are_servable() -> None:
    suffixes = {name.rpartition(".")[2] for name in assets()}
    assert suffixes <= {"js", "css", "png", "svg", "woff2"}
    assert "apidocs/redoc-init.js" in assets()
