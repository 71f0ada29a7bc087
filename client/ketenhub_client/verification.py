"""The commands' side of receipt verification: the witness state opened, every receipt checked
by :func:`ketenhub_client.receipts.verify_receipt`, and the findings shown.

``upload`` verifies its receipt (and the uploaded file against the event's ``content_sha256``
and ``content_size``) before it reports success; ``receipt verify`` checks what it is given
(a receipt, an upload's or download's ``--json`` output, headers or the bare note). Either way
the client acts as a witness: it keeps the newest checkpoint it has verified for each hub, and
a checkpoint that does not extend it is a split view (exit 4), whose evidence is kept.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from ketenhub_client.errors import EXIT_OK, EXIT_VERIFICATION, ConfigError
from ketenhub_client.hub import Hub
from ketenhub_client.models import Receipt
from ketenhub_client.output import Output

_MARKS = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}


@dataclass
class Checked:
    """The findings of one verification run (one or more receipts)."""

    results: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(result.ok for result in self.results)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_VERIFICATION

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "receipts": [result.as_dict() for result in self.results]}

    def show(self, out: Console) -> None:
        for result in self.results:
            verdict = "verified" if result.ok else "NOT verified"
            out.print(f"Receipt of audit event {result.receipt.seq}: {verdict}", markup=False)
            for check in result.checks:
                text = check.error if check.status == "failed" and check.error else check.detail
                out.print(
                    f"  {_MARKS.get(check.status, check.status)} {check.name}: {text}", markup=False
                )
            for warning in result.warnings:
                out.print(f"  warning: {warning}", markup=False)
            if result.split_view:
                out.print(
                    "  SPLIT VIEW: the hub's log does not extend the checkpoint this client saw "
                    "before. Keep the witness state file and tell the hub's operator and auditor.",
                    markup=False,
                )


def _receipts_module() -> Any:
    try:
        return importlib.import_module("ketenhub_client.receipts")
    except ModuleNotFoundError as exc:  # pragma: no cover - the module ships with the package
        raise ConfigError("this build of ketenhub-client cannot verify receipts") from exc


def verify(hub: Hub, receipts: Sequence[Receipt], *, file: Path | None, output: Output) -> Checked:
    """Verify ``receipts`` of ``hub`` (and ``file`` against each event's content fields)."""
    module = _receipts_module()
    converted = [module.Receipt(r.seq, r.leaf_hash, r.note) for r in receipts]
    return _run(hub, converted, file=file, output=output)


def verify_text(hub: Hub, text: str, *, output: Output) -> Checked:
    """Verify every receipt in ``text`` (see :func:`ketenhub_client.receipts.load_receipts`)."""
    module = _receipts_module()
    return _run(hub, module.load_receipts(text), file=None, output=output)


def _run(hub: Hub, receipts: Sequence[Any], *, file: Path | None, output: Output) -> Checked:
    module = _receipts_module()
    witness = importlib.import_module("ketenhub_client.witness")
    checked = Checked()
    with witness.open_witness(hub.base_url) as state:
        for receipt in receipts:
            result = module.verify_receipt(hub, receipt, state=state, file=file)
            checked.results.append(result)
            if result.split_view:
                output.warning("split view: the hub showed this client a different log before")
    return checked
