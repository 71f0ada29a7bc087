"""The partner client imports nothing of the server: a partner installs it alone, and its
receipt check is worth something only as an implementation apart from the hub's ``audit``."""

from __future__ import annotations

import ast
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "client" / "ketenhub_client"
SERVER = frozenset({"hub", "audit", "auth", "storage", "tests"})


def server_imports(source: str) -> list[str]:
    """The modules of the server that ``source`` imports, anywhere in it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in SERVER]
    return found


def test_no_module_of_the_client_imports_the_server() -> None:
    modules = sorted(CLIENT.rglob("*.py"))
    assert {"receipts.py", "merkle.py", "notes.py", "jcs.py"} <= {m.name for m in modules}
    offenders = {
        module.name: imports
        for module in modules
        if (imports := server_imports(module.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_check_finds_a_server_import_even_inside_a_function() -> None:
    source = "import json\n\ndef f():\n    from audit import merkle\n    import hub.app\n"
    assert server_imports(source) == ["audit", "hub.app"]
