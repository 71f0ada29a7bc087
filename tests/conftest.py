"""Shared fixtures: real databases (``tests.fixtures.databases``) and object stores."""

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.stores",
    "tests.fixtures.oauth",
]
