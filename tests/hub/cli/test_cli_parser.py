"""The ``ketenhub`` parser builds a command's module only when that command runs, and reads the
same as when every command is built."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hub.cli.main import COMMANDS, build_parser


def _help(argv: list[str], *, lazily: bool, capsys: pytest.CaptureFixture[str]) -> str:
    parser = build_parser(argv) if lazily else build_parser()
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(argv)
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        *([name, "--help"] for name, _, _ in COMMANDS),
        ["keys", "rotate", "--help"],
        ["storage", "sweep", "--help"],
    ],
    ids=" ".join,
)
def test_a_lazily_built_parser_reads_as_the_full_one(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    full = _help(argv, lazily=False, capsys=capsys)
    assert _help(argv, lazily=True, capsys=capsys) == full
    assert "usage: ketenhub" in full


@pytest.mark.parametrize("name", [name for name, _, _ in COMMANDS])
def test_every_listed_command_is_built_by_its_module(name: str) -> None:
    argv = _minimal(name)
    args = build_parser(argv).parse_args(argv)
    assert args.command == name
    assert callable(args.func)


def _minimal(name: str) -> list[str]:
    """The shortest arguments that run ``name``: its first action where it has actions."""
    actions = {
        "keys": ["list"],
        "client": ["list"],
        "org": ["list"],
        "user": ["list"],
        "audit": ["checkpoint"],
        "storage": ["check"],
        "documents": ["expire"],
    }
    return [name, *actions.get(name, [])]


def _modules_loaded_by(argv: list[str]) -> set[str]:
    script = (
        "import sys\n"
        "from hub.cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "ours = (m for m in sys.modules if m.split('.')[0] in ('hub', 'uvicorn'))\n"
        "print(' '.join(ours), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(result.stderr.split())


def test_help_imports_no_command() -> None:
    assert _modules_loaded_by(["--help"]) == {"hub", "hub.cli", "hub.cli.main"}


def test_a_command_imports_its_own_module_only() -> None:
    loaded = _modules_loaded_by(["keys", "--help"])
    assert "hub.cli.keys" in loaded
    assert not {"hub.cli.serve", "hub.app", "uvicorn", "hub.cli.init"} & loaded
