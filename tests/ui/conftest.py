"""The browser tests of the web UI: one served demo hub per module (SQLite and the filesystem
store; ``test_story.py`` runs on PostgreSQL and S3 as well) and one Chromium per module
(``tests.fixtures.browser``). See ``tests/ui/harness.py`` for how a person uses the pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.databases import PostgresDatabases
from tests.ui.harness import UiHub, serve_ui_hub


@pytest.fixture(scope="module")
def ui_hub(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[UiHub]:
    """The module's hub: on SQLite and the filesystem store, or on the database kind a module
    parametrises it with (``indirect``)."""
    kind = getattr(request, "param", "sqlite")
    root = tmp_path_factory.mktemp(f"ui-{request.module.__name__.rsplit('.', 1)[-1]}-{kind}")
    with serve_ui_hub(root, kind, postgres_databases) as hub:
        yield hub
