"""The administrator's pages on both backend pairs, one hub per test module: the documents hub
with people logged in through the accounts and the code grant (:mod:`tests.fixtures.people`)."""

from __future__ import annotations

import pytest

from tests.fixtures.documents import DocumentHub
from tests.hub.pages.conftest import PagesHub


@pytest.fixture(scope="module")
def admin_pages_hub(module_documents_hub: DocumentHub) -> PagesHub:
    """:class:`~tests.hub.pages.conftest.PagesHub` shared by a module: tests work with clients,
    shares and organisations of their own."""
    return PagesHub(module_documents_hub)
