"""``ketenhub-client receipt verify [FILE|-] [--file CONTENT] [--accept-new-key]``: its work.

The command line parses the arguments, builds the :class:`~ketenhub_client.hub.Hub` and
calls :func:`receipt_verify` with the text of the receipt file (or stdin). It reads every
receipt in it (:func:`~ketenhub_client.receipts.load_receipts`), verifies each one under the
witness state's lock (:func:`verify_receipts`) and shows the outcome: a table of the checks
per receipt, or one JSON document with ``--json``. A split view is also shouted on stderr,
whatever the format, with where its evidence is kept. ``upload`` uses :func:`verify_receipts`
for the receipt it just got.

Exit codes (as every command's): 0 every receipt verified; 1 the witness state could not be
read or written; 2 the hub refused an audit read (4xx, e.g. the event of another party); 3 the
hub could not be reached or kept failing (5xx); 4 a receipt did not verify (a changed key, a
tampered note, another leaf, a failed proof, a split view, another file) or is not a receipt.
The errors behind 1 to 3 propagate as the SDK's (:mod:`ketenhub_client.errors`), which the
command line turns into these codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ketenhub_client.errors import EXIT_OK, EXIT_VERIFICATION
from ketenhub_client.output import Output
from ketenhub_client.receipts import (
    AuditSource,
    Receipt,
    ReceiptVerification,
    load_receipts,
    verify_receipt,
)
from ketenhub_client.witness import open_witness, state_path

__all__ = ["receipt_verify", "results_document", "show_results", "verify_receipts"]

_MARK = {"passed": ("✓", "green"), "failed": ("✗", "bold red"), "skipped": ("-", "dim")}
_FACTS = ("action", "time", "actor_id", "resource_id", "content_sha256", "content_size", "range")


def receipt_verify(
    hub: AuditSource,
    text: str,
    *,
    output: Output,
    content: Path | None = None,
    accept_new_key: bool = False,
    state_dir: Path | None = None,
) -> int:
    """Verify every receipt in ``text`` against ``hub``; show the findings; the exit code.

    ``content`` is the file the receipts are about (its SHA-256 and size are compared with
    each event's); ``accept_new_key`` pins a key the hub publishes and signs with that is not
    pinned yet (after the hub's operator confirmed it); ``state_dir`` overrides where the
    witness state lives. Raises :class:`~ketenhub_client.verification_errors.MalformedEvidence`
    (exit 4) when ``text`` holds no receipt.
    """
    receipts = load_receipts(text)
    results = verify_receipts(
        hub, receipts, file=content, accept_new_key=accept_new_key, state_dir=state_dir
    )
    for result in results:
        if result.split_view:
            _shout_split_view(output.err, result, state_path(hub.base_url, state_dir))
    ok = len(results) == len(receipts) and all(result.ok for result in results)
    output.result(results_document(results, ok=ok), lambda out: show_results(out, results))
    return EXIT_OK if ok else EXIT_VERIFICATION


def verify_receipts(
    hub: AuditSource,
    receipts: Sequence[Receipt],
    *,
    file: Path | None = None,
    accept_new_key: bool = False,
    state_dir: Path | None = None,
) -> list[ReceiptVerification]:
    """Each receipt's verification, in order, under one hold of the witness state; after a
    split view the rest are not checked (nothing that log says can be relied on)."""
    results: list[ReceiptVerification] = []
    with open_witness(hub.base_url, state_dir) as state:
        for receipt in receipts:
            result = verify_receipt(
                hub, receipt, state=state, file=file, accept_new_key=accept_new_key
            )
            results.append(result)
            if result.split_view:
                break
    return results


def results_document(results: Sequence[ReceiptVerification], *, ok: bool) -> dict[str, Any]:
    """The ``--json`` document: ``{"ok", "receipts": [ReceiptVerification.as_dict()…]}``."""
    return {"ok": ok, "receipts": [result.as_dict() for result in results]}


def show_results(out: Console, results: Sequence[ReceiptVerification]) -> None:
    """A table of the checks per receipt, what the event says, and the warnings."""
    for result in results:
        verdict = (
            Text("verified", style="bold green")
            if result.ok
            else Text("NOT verified", style="bold red")
        )
        title = Text.assemble(f"Receipt of audit event {result.receipt.seq}: ", verdict)
        table = Table(title=title, title_justify="left", show_header=False, box=None)
        table.add_column(no_wrap=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for check in result.checks:
            mark, style = _MARK[check.status]
            detail = f"{check.error}: {check.detail}" if check.error else check.detail
            table.add_row(Text(mark, style=style), check.name, Text(detail))
        out.print(table)
        if result.event is not None:
            facts = [f"{name} {result.event[name]}" for name in _FACTS if name in result.event]
            out.print(Text("  the event: " + ", ".join(facts), style="dim"))
        for warning in result.warnings:
            out.print(Text(f"  warning: {warning}", style="yellow"))


def _shout_split_view(err: Console, result: ReceiptVerification, evidence: Path) -> None:
    err.print(
        Panel(
            Text(
                f"{result.failure}\n\nEvidence: {evidence} (the split_views of log "
                f"{result.origin!r}). Do not delete it.",
                style="bold",
            ),
            title="SPLIT VIEW OF THE AUDIT LOG",
            border_style="bold red",
        ),
        soft_wrap=False,  # the command's consoles soft-wrap, which would cut the panel's lines
    )
