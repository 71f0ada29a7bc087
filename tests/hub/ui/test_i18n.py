"""The message catalogs: every message of the templates and code has a Dutch translation, and
each compiled catalog is what its source compiles to (run scripts/messages when either fails)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
LOCALE = ROOT / "hub" / "ui" / "locale"
LANGUAGES = ("nl", "en")


def _extracted() -> set[str]:
    """The message ids scripts/messages extracts (the mapping of babel.cfg)."""
    method_map = [
        ("hub/ui/**.py", "python"),
        ("hub/ui/templates/**.html", "jinja2"),
    ]
    options = {
        "hub/ui/templates/**.html": {
            "extensions": "jinja2.ext.i18n",
            "trim_blocks": "true",
            "lstrip_blocks": "true",
        }
    }
    config = (ROOT / "babel.cfg").read_text()
    for pattern, _method in method_map:
        assert pattern in config, f"babel.cfg no longer names {pattern}: update this test"
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT),
        method_map=method_map,
        options_map=options,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None},
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(language: str):  # type: ignore[no-untyped-def]
    with (LOCALE / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=language)


def test_the_templates_and_code_have_messages() -> None:
    extracted = _extracted()
    assert "Skip to main content" in extracted
    assert "Page not found" in extracted


def test_every_message_has_a_dutch_translation() -> None:
    catalog = _catalog("nl")
    missing = [m for m in _extracted() if not (catalog.get(m) and catalog.get(m).string)]
    assert missing == [], "untranslated (run scripts/messages, then translate): " + repr(missing)


def test_every_dutch_translation_keeps_its_placeholders() -> None:
    for message in _catalog("nl"):
        if message.id and message.string:
            wanted = sorted(re.findall(r"%\(\w+\)s", str(message.id)))
            assert sorted(re.findall(r"%\(\w+\)s", str(message.string))) == wanted, message.id


def _messages(catalog: Catalog) -> dict[object, object]:
    """id -> translation; a plural message's (ngettext) forms are lists, kept as tuples."""

    def key(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {key(m.id): key(m.string) for m in catalog if m.id}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_is_its_source_compiled(language: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _catalog(language))
    shipped = (LOCALE / language / "LC_MESSAGES" / "messages.mo").read_bytes()
    in_source = _messages(read_mo(io.BytesIO(compiled.getvalue())))
    in_shipped = _messages(read_mo(io.BytesIO(shipped)))
    assert in_shipped == in_source, (
        "messages.mo is behind messages.po: run scripts/messages compile"
    )
