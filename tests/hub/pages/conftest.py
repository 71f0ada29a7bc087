"""The pages' hub on both backend pairs, with people who log in through the accounts and the
code grant (:mod:`tests.fixtures.people`), and their browsers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auth.people import Role
from tests.fixtures.documents import DOCUMENT_BACKENDS, DocumentHub, running_documents_hub
from tests.fixtures.people import Browser, add_person, log_in


@dataclass
class PagesHub:
    """The documents hub (its API for the other organisations' part) and logged-in browsers."""

    api: DocumentHub
    _browsers: dict[str, Browser] = field(default_factory=dict)

    def browser(self, organisation: str, *roles: Role) -> Browser:
        """A logged-in caseworker (or ``roles``) of ``organisation``, one per organisation
        and roles."""
        roles = roles or (Role.CASEWORKER,)
        username = ".".join([organisation.lower(), *sorted(roles)])
        if username not in self._browsers:
            services = self.api.hub.services
            person = add_person(services, organisation=organisation, username=username, roles=roles)
            self._browsers[username] = log_in(self.api.client, services, person)
        return self._browsers[username]


@pytest.fixture(params=DOCUMENT_BACKENDS)
def pages_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PagesHub]:
    for api in running_documents_hub(request, tmp_path):
        yield PagesHub(api)


@pytest.fixture(scope="module", params=DOCUMENT_BACKENDS)
def module_pages_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PagesHub]:
    """:func:`pages_hub`, started once per backend for a whole test module (a PostgreSQL
    database costs seconds): its tests work with v-numbers and periods of their own."""
    for api in running_documents_hub(request, tmp_path_factory.mktemp("pages")):
        yield PagesHub(api)
