"""Reading a CSV file of organisations for ``ketenhub org import``, and what it would change.

The file is what a spreadsheet of the 342 gemeenten saves:

- UTF-8, with or without a byte order mark (Excel's "CSV UTF-8" writes one). Any other encoding
  is refused rather than guessed: a wrong guess would import wrong names;
- separated by commas, or by semicolons as Excel writes CSV where the decimal separator is a
  comma (Dutch Excel). Excel's own first line ``sep=;`` is understood;
- a header naming the columns ``code``, ``name`` and ``kind``, in any order (case and
  surrounding spaces do not matter), and then one organisation per row; blank rows are skipped.

Every row is checked first, against the rules of :mod:`hub.organisations.service`, against the
other rows (a code twice is an error) and against the database; if any row is bad, nothing is
imported and each bad row is named with its line. Then a code the hub does not know is added
(enabled); a known one with the same name and kind is left alone; a known one with another name
is renamed (the file is the register); a known one with another kind is an error, since kinds
decide the sharing policy. An import never enables or disables an organisation, so it can be
run again at any time.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Final

from sqlmodel import Session

from audit.events import Action
from hub.core.errors import Unprocessable
from hub.directory import organisations_repository as repository
from hub.organisations.service import (
    OrganisationSeed,
    OrganisationService,
    about,
    add,
    rename,
    validated,
)
from hub.tables.organisations import Organisation
from hub.trail.recorder import Recorder

MAX_BYTES: Final = 1024 * 1024
MAX_ROWS: Final = 10_000
COLUMNS: Final = ("code", "name", "kind")


class ImportRefused(Exception):
    """The file cannot be imported; ``problems`` are lines to show, each naming its place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    seed: OrganisationSeed


@dataclass(frozen=True, slots=True)
class Rename:
    organisation: Organisation
    old_name: str
    name: str


@dataclass(slots=True)
class Plan:
    """What importing the rows changes: each list in file order."""

    add: list[OrganisationSeed] = field(default_factory=list)
    rename: list[Rename] = field(default_factory=list)
    unchanged: list[Organisation] = field(default_factory=list)


def _text(data: bytes, source: str) -> str:
    if len(data) > MAX_BYTES:
        raise ImportRefused(
            [f"{source}: larger than {MAX_BYTES // 1024} KiB, so not a list of organisations"]
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(
            [f'{source}: not UTF-8 (byte {exc.start}); save it as "CSV UTF-8"']
        ) from None


def _split_header(text: str) -> tuple[str, str, int]:
    """The separator, the text from the header on, and the header's line number."""
    first, newline, rest = text.partition("\n")
    hint = first.strip().lower()
    if hint in ("sep=,", "sep=;"):
        return hint[-1], rest, 2
    separator = ";" if ";" in first and "," not in first else ","
    return separator, first + newline + rest, 1


def _header(cells: list[str], source: str, line: int) -> list[str]:
    names = [cell.strip().lower() for cell in cells]
    if sorted(names) != sorted(COLUMNS):
        found = ", ".join(repr(name) for name in names) or "nothing"
        problem = f"{source}:{line}: the header must name the columns code, name and kind, not "
        raise ImportRefused([problem + found])
    return names


def read_rows(data: bytes, *, source: str) -> list[Row]:
    """The file's organisations, each checked; :class:`ImportRefused` names every bad row."""
    separator, text, header_line = _split_header(_text(data, source))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    problems: list[str] = []
    rows: list[Row] = []
    seen: dict[str, int] = {}
    columns: list[str] | None = None
    try:
        for cells in reader:
            line = reader.line_num + header_line - 1
            if columns is None:
                columns = _header(cells, source, line)
                continue
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) + len(problems) >= MAX_ROWS:
                raise ImportRefused([f"{source}: more than {MAX_ROWS} rows"])
            if len(cells) != len(COLUMNS):
                problems.append(
                    f"{source}:{line}: {len(cells)} fields, not 3 (code, name, kind; "
                    f"separated by {separator!r})"
                )
                continue
            fields = dict(zip(columns, cells, strict=True))
            try:
                seed = validated(fields["code"].strip(), fields["name"], fields["kind"].strip())
            except ValueError as exc:
                problems.append(f"{source}:{line}: {exc}")
                continue
            if seed.code in seen:
                problems.append(f"{source}:{line}: {seed.code} is on line {seen[seed.code]} too")
                continue
            seen[seed.code] = line
            rows.append(Row(line, seed))
    except csv.Error as exc:
        problems.append(f"{source}:{reader.line_num + header_line - 1}: {exc}")
    if columns is None:
        problems.append(f"{source}: empty; the first line must be the header code,name,kind")
    if problems:
        raise ImportRefused(problems)
    return rows


def plan(session: Session, rows: list[Row], *, source: str) -> Plan:
    """What the rows change in the database; :class:`ImportRefused` for a changed kind."""
    known = {organisation.code: organisation for organisation in repository.list_all(session)}
    result = Plan()
    problems = []
    for row in rows:
        seed, existing = row.seed, known.get(row.seed.code)
        if existing is None:
            result.add.append(seed)
        elif existing.kind != seed.kind:
            problems.append(
                f"{source}:{row.line}: {seed.code} is of kind {existing.kind} in the hub, not "
                f"{seed.kind}; kinds decide the sharing policy, so an import does not change them"
            )
        elif existing.name != seed.name:
            result.rename.append(Rename(existing, existing.name, seed.name))
        else:
            result.unchanged.append(existing)
    if problems:
        raise ImportRefused(problems)
    return result


def add_recorded(
    session: Session, recorder: Recorder, seed: OrganisationSeed, *, operator: bool
) -> Organisation:
    """Add one organisation (:func:`hub.organisations.service.add`) and record it, in the
    caller's transaction. ``operator``: the actor has no organisation of its own (the command
    line), so the event names the organisation added as its organisation."""
    organisation = add(session, seed)
    recorder.record(
        session,
        Action.ORGANISATION_ADD,
        about(seed.code),
        organisation=seed.code if operator else None,
        detail=f"kind {seed.kind.value}",
    )
    return organisation


def apply(session: Session, recorder: Recorder, changes: Plan, *, operator: bool) -> None:
    """Make the planned changes, one audit event each, in the caller's transaction (``ketenhub
    org import`` and the administration's import page)."""
    for seed in changes.add:
        add_recorded(session, recorder, seed, operator=operator)
    for change in changes.rename:
        rename(session, change.organisation, change.name)
        code = change.organisation.code
        recorder.record(
            session,
            Action.ORGANISATION_UPDATE,
            about(code),
            organisation=code if operator else None,
            detail="renamed",
        )


def import_file(service: OrganisationService, data: bytes, *, source: str) -> Plan:
    """Import ``data`` for an administrator's request (the administration's import page): every
    change recorded with the administrator as actor. :class:`ImportRefused` when the file has
    problems; nothing is imported then, and the refusal is recorded (one event, its count)."""
    try:
        changes = plan(service.session, read_rows(data, source=source), source=source)
    except ImportRefused as exc:
        service.refuse(
            Unprocessable(f"{len(exc.problems)} problems"),
            Action.ORGANISATION_ADD,
            about(""),
            detail=f"import refused: {len(exc.problems)} problems",
        )
        raise
    apply(service.session, service.recorder, changes, operator=False)
    service.changed()
    return changes
