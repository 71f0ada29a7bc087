"""``ketenhub-client receipt verify [FILE|-] [--file CONTENT]``: the command's work.

The command line (``cli.py``) parses the arguments, builds the hub's :class:`AuditSource`
and calls :func:`receipt_verify`, which reads the receipts, verifies each one under the
witness state's lock and prints the outcome: a table per receipt on a terminal, or one JSON
document with ``--json``. A split view is also shouted on stderr, whatever the format.

Exit codes (as every command's): 0 every receipt verified; 1 the receipt file or the witness
state could not be read; 2 the hub refused an audit read (4xx, e.g. the event of another
party); 3 the hub could not be reached or failed (5xx); 4 a receipt did not verify (a finding:
a changed key, a tampered note, another leaf, a failed proof, a split view, another file).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ketenhub_client.receipts import (
    AuditReadError,
    AuditSource,
    ReceiptVerification,
    load_receipts,
    verify_receipt,
)
from ketenhub_client.verification_errors import VerificationError, WitnessStateError
from ketenhub_client.witness import open_witness, state_path

__all__ = [
    "EXIT_HUB_FAILED",
    "EXIT_HUB_REFUSED",
    "EXIT_OK",
    "EXIT_UNVERIFIED",
    "EXIT_USAGE",
    "receipt_verify",
]

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_HUB_REFUSED = 2
EXIT_HUB_FAILED = 3
EXIT_UNVERIFIED = 4

_MARK = {"passed": ("✓", "green"), "failed": ("✗", "bold red"), "skipped": ("-", "dim")}


def receipt_verify(
    hub: AuditSource,
    source: str | None = None,
    *,
    content: Path | None = None,
    state_dir: Path | None = None,
    accept_new_key: bool = False,
    json_output: bool = False,
    out: Console | None = None,
    err: Console | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Verify the receipts in ``source`` (a path; ``-`` or ``None``: stdin); the exit code.

    ``content`` is the file the receipts are about (its SHA-256 and size are compared with the
    event's); ``state_dir`` overrides where the witness state lives.
    """
    out = out or Console()
    err = err or Console(stderr=True)
    try:
        text = _read(source, stdin or sys.stdin)
    except OSError as exc:
        return _fail(
            err, out, f"cannot read the receipt: {exc}", EXIT_USAGE, json_output=json_output
        )
    try:
        receipts = load_receipts(text)
    except VerificationError as exc:
        return _fail(err, out, f"not a receipt: {exc}", EXIT_UNVERIFIED, json_output=json_output)
    results: list[ReceiptVerification] = []
    try:
        with open_witness(hub.base_url, state_dir) as state:
            for receipt in receipts:
                result = verify_receipt(
                    hub, receipt, state=state, file=content, accept_new_key=accept_new_key
                )
                results.append(result)
                if result.split_view:
                    break  # a forked log: nothing later can be trusted either
    except WitnessStateError as exc:
        return _fail(err, out, str(exc), EXIT_USAGE, json_output=json_output)
    except AuditReadError as exc:
        code = EXIT_HUB_REFUSED if exc.status is not None and exc.status < 500 else EXIT_HUB_FAILED
        return _fail(err, out, f"the hub did not answer: {exc}", code, json_output=json_output)

    ok = len(results) == len(receipts) and all(r.ok for r in results)
    for result in results:
        if result.split_view:
            _shout_split_view(err, result, state_path(hub.base_url, state_dir))
    if json_output:
        out.print_json(data=_document(results, ok=ok))
    else:
        for result in results:
            _show(out, result)
    return EXIT_OK if ok else EXIT_UNVERIFIED


def _read(source: str | None, stdin: TextIO) -> str:
    if source in {None, "-"}:
        return stdin.read()
    return Path(str(source)).read_text(encoding="utf-8")


def _document(results: list[ReceiptVerification], *, ok: bool) -> dict[str, Any]:
    return {"ok": ok, "receipts": [result.as_dict() for result in results]}


def _fail(err: Console, out: Console, message: str, code: int, *, json_output: bool) -> int:
    if json_output:
        out.print_json(data={"ok": False, "error": message, "receipts": []})
    else:
        err.print(Text(message, style="red"))
    return code


def _show(out: Console, result: ReceiptVerification) -> None:
    verdict = (
        Text("verified", style="bold green") if result.ok else Text("NOT verified", "bold red")
    )
    title = Text.assemble(f"receipt seq {result.receipt.seq} of {result.hub}: ", verdict)
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    table.add_column(width=1)
    table.add_column(style="bold")
    table.add_column()
    for check in result.checks:
        mark, style = _MARK[check.status]
        detail = f"{check.error}: {check.detail}" if check.error else check.detail
        table.add_row(Text(mark, style=style), check.name, detail)
    out.print(table)
    if result.event is not None:
        event = result.event
        facts = [
            f"{name}={event[name]}"
            for name in ("action", "time", "actor_id", "resource_id", "content_sha256", "range")
            if name in event
        ]
        out.print(Text("  the event: " + ", ".join(facts), style="dim"))
    for warning in result.warnings:
        out.print(Text(f"  warning: {warning}", style="yellow"))


def _shout_split_view(err: Console, result: ReceiptVerification, evidence: Path) -> None:
    err.print(
        Panel(
            Text(
                f"{result.failure}\n\nEvidence: {evidence} (the 'split_views' of log "
                f"{result.origin!r}). Do not delete it.",
                style="bold",
            ),
            title="SPLIT VIEW OF THE AUDIT LOG",
            border_style="bold red",
        )
    )
