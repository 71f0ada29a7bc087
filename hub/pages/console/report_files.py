"""The subject report as a file for an AVG inzage request: CSV for a spreadsheet, PDF to send.

Both hold the same rows as the page, in the person's language, made from
:class:`~hub.pages.console.reporting.ReportLine` by one :class:`Wording` so the three cannot
disagree.

- **CSV** is for Dutch Excel: ``;`` between cells, a UTF-8 byte order mark first (without it
  Excel reads UTF-8 as Windows-1252), CRLF line ends, readable column names. A cell that
  starts with ``=``, ``+``, ``-``, ``@``, a tab or CR (or ``'``) gets a leading ``'`` so a
  spreadsheet never runs it as a formula (CSV injection): a title is text someone typed.
- **PDF** (fpdf2): a title, the v-number (the person asked for their own record; the file goes
  to them, and the v-number is only ever in the body of the answer, never in its name or an
  address), the period, when and by whom it was made, and the table. The PDF's built-in fonts
  hold Latin-1 only, which covers Dutch; a character beyond it is shown as ``?`` rather than
  embedding a font for the rare title that needs one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from fpdf import FPDF
from fpdf.fonts import FontFace

from hub.pages.console.reporting import ReportLine
from hub.pages.display import Display

BOM: Final = "\ufeff"
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r", "'")


@dataclass(frozen=True, slots=True)
class Wording:
    """How one report's values read, in the person's language."""

    shown: Display
    gettext: Callable[[str], str]
    names: dict[str, str]
    """Organisation names by code."""
    purposes: dict[str, str]
    """The policy's purposes: code -> description."""

    def who(self, line: ReportLine) -> str:
        """The actor, and the client it acted through when that is another."""
        who = line.who or "—"
        return f"{who} ({line.client})" if line.client and line.client != line.who else who

    def organisation(self, line: ReportLine) -> str:
        code = line.event.organisation
        if not code:
            return "—"
        name = self.names.get(code)
        return f"{name} ({code})" if name and name != code else code

    def document(self, line: ReportLine, *, with_id: bool = True) -> str:
        """``Reisdocument "Paspoort" (id)``: the type and title where the metadata has them
        (the page links them to the document's metadata and leaves the id out); another
        resource by its kind and id; none as ``—``."""
        event = line.event
        if event.resource_type != "document" or not event.resource_id:
            named = " ".join(v for v in (event.resource_type, event.resource_id) if v)
            return named or "—"
        parts = [self.shown.document_type(line.document_type)] if line.document_type else []
        if line.title:
            parts.append(f"“{line.title}”")
        if with_id or not parts:
            parts.append(f"({event.resource_id})" if parts else event.resource_id)
        return " ".join(parts)

    def purpose(self, line: ReportLine) -> str:
        code = line.event.purpose
        return self.shown.purpose(code, self.purposes.get(code)) if code else "—"

    def headings(self) -> tuple[str, ...]:
        _ = self.gettext
        return (_("When"), _("Who"), _("Organisation"), _("What"), _("Document"), _("Why"))

    def more_headings(self) -> tuple[str, ...]:
        _ = self.gettext
        return (_("Rule"), _("Outcome"))

    def cells(self, line: ReportLine) -> tuple[str, ...]:
        """The row of the page's and the PDF's table."""
        event = line.event
        return (
            self.shown.moment(event.time),
            self.who(line),
            self.organisation(line),
            event.action_label,
            self.document(line),
            self.purpose(line),
            event.rule or "—",
            event.outcome_label,
        )


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def report_csv(lines: Sequence[ReportLine], wording: Wording) -> str:
    """The report as CSV for Dutch Excel (``;``, BOM), one row per event."""
    _ = wording.gettext
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        (
            _("Number in the trail"),
            _("When"),
            _("Person or client"),
            _("Through client"),
            _("Organisation"),
            _("What"),
            _("Action tag"),
            _("Document id"),
            _("Document type"),
            _("Title"),
            _("Why"),
            _("Rule"),
            _("Outcome"),
        )
    )
    for line in lines:
        event = line.event
        writer.writerow(
            _cell(value)
            for value in (
                str(event.seq),
                wording.shown.moment(event.time),
                line.who,
                line.client,
                wording.organisation(line),
                event.action_label,
                event.action,
                event.resource_id if event.resource_type == "document" else "",
                wording.shown.document_type(line.document_type) if line.document_type else "",
                line.title or "",
                wording.purpose(line) if event.purpose else "",
                event.rule,
                event.outcome_label,
            )
        )
    return BOM + buffer.getvalue()


def _latin1(text: str) -> str:
    """``text`` as the PDF's built-in fonts can show it (see the module docstring)."""
    text = text.replace("“", '"').replace("”", '"').replace("—", "-")
    return text.encode("latin-1", "replace").decode("latin-1")


class _Report(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="landscape", format="A4")
        self._footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, _latin1(f"{self._footer_text} {self.page_no()}/{{nb}}"), align="R")


_WIDTHS: Final = (26, 34, 30, 32, 66, 42, 28, 19)


def report_pdf(
    lines: Sequence[ReportLine],
    wording: Wording,
    *,
    v_number: str,
    made_at: datetime,
    maker: str,
    hub_name: str,
) -> bytes:
    """The report as a PDF: title, v-number, period, when and by whom made, the table."""
    _ = wording.gettext
    title = _("Subject report")
    pdf = _Report(_("Page"))
    pdf.set_title(_latin1(title))
    pdf.set_author(_latin1(maker))
    pdf.set_creator(hub_name)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(
        0, 10, _latin1(f"{title} · {hub_name}".replace("·", "-")), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", size=10)
    first = wording.shown.day(lines[0].event.time.date()) if lines else None
    period = (
        _("from %(first)s up to the moment it was made") % {"first": first}
        if first
        else _("no events are recorded about this person")
    )
    facts = (
        (_("V-number"), v_number),
        (_("Period"), period),
        (_("Made"), wording.shown.moment(made_at)),
        (_("Made by"), maker),
        (_("Events"), str(len(lines))),
    )
    for name, value in facts:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(30, 6, _latin1(name))
        pdf.set_font("Helvetica", size=10)
        pdf.cell(0, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    if lines:
        pdf.set_font("Helvetica", size=7)
        with pdf.table(
            col_widths=_WIDTHS,
            headings_style=FontFace(emphasis="BOLD"),
            repeat_headings=1,
            text_align="LEFT",
        ) as table:
            row = table.row()
            for heading in (*wording.headings(), *wording.more_headings()):
                row.cell(_latin1(heading))
            for line in lines:
                row = table.row()
                for value in wording.cells(line):
                    row.cell(_latin1(value))
    return bytes(pdf.output())
