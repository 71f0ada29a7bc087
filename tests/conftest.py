"""Shared fixtures: real databases (``tests.fixtures.databases``) and object stores, and the
session-wide scan for secrets in logs (``tests.fixtures.secrets``)."""

pytest_plugins = [
    # First, so that it is loaded (and its asserts rewritten) before the fixtures that use it.
    "tests.fixtures.secrets",
    "tests.fixtures.databases",
    "tests.fixtures.roles",
    "tests.fixtures.stores",
    "tests.fixtures.oauth",
    "tests.fixtures.documents",
    "tests.fixtures.served",
    "tests.fixtures.browser",
]
