"""``next`` is only ever a path of this hub: every open-redirect trick becomes the home page."""

from __future__ import annotations

import pytest

from hub.login.targets import login_target


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/documents",
        "/documents?document_type=decision&cursor=abc",
        "/documents/1234",
        "/shares/new",
    ],
)
def test_local_paths_are_kept(target: str) -> None:
    assert login_target(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "//evil.example/",
        "///evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "https://evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "documents",
        "/documents#x",
        "/a\\b",
        "/d\u00f6cuments",
        "/" + "a" * 3000,
        "/login",
        "/login/callback?code=x",
        "/logout",
        "/oauth/authorize?client_id=x",
    ],
)
def test_anything_else_is_the_home_page(target: str | None) -> None:
    assert login_target(target) == "/"
