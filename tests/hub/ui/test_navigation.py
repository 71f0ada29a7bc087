"""``next`` stays on the hub: local paths pass, everything else becomes /."""

from __future__ import annotations

import pytest

from hub.ui.navigation import local_path


@pytest.mark.parametrize("path", ["/", "/documents", "/documents?page=2", "/shares/new"])
def test_a_local_path_is_kept(path: str) -> None:
    assert local_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        None,
        "",
        "//evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "https://evil.example/",
        "evil.example",
        "javascript:alert(1)",
        "/documents#x",
        "/a b",
        "/a\r\nSet-Cookie: x=1",
        "/" + "a" * 3000,
    ],
)
def test_anything_else_becomes_home(path: str | None) -> None:
    assert local_path(path) == "/"
