"""Reading the sharing policy from YAML: strictly, and with every error pointing at its line.

An administrator edits the policy by hand, and a mistake in it either locks partners out or
lets them in where they should not be. So the loader accepts exactly the format below and
refuses everything else with one :class:`PolicyError` whose message starts with
``source:line:column:`` and says what is wrong: an unknown or missing key, a value of the wrong
type, an unknown organisation code or kind, an unknown content type, a size or duration it
cannot read, a key written twice (PyYAML would silently keep the last one), an empty list that
would make a type useless, and so on.

The file is parsed with PyYAML's safe loader only as far as its node tree
(:func:`yaml.compose`), whose nodes carry their position; the loader builds the policy from the
nodes itself. No YAML tag can construct an object, and an alias cannot blow up into a large
structure, because every value the loader accepts is a plain string or a list of them.

Format (``hub/rules/demo.yaml`` is a commented, complete example)::

    version: "2025.1"                 # text; the administrator bumps it with every change
    purposes:                         # processing activities: code -> description
      terugkeer: preparing and carrying out departure
    document_types:
      travel_document:                # lower case, digits and underscores
        content_types: [application/pdf, image/jpeg]
        max_size: 256 MiB             # B, KiB, MiB, GiB or TiB (binary units only)
        retention: 5 years            # years (calendar years), weeks or days
        upload: [IOM, DTV]            # subjects: CODE, kind, uploader, any
        read: [DTV, uploader]
        share: [DTV, uploader]        # may be []: then share_to and max_share_duration
        share_to: [any]               #   are left out; otherwise both are required
        max_share_duration: 90 days   # days or weeks
        delete: [DTV, uploader]       # may be []: only retention then removes documents

Organisation codes must exist in the organisations given to the loader: the database is the
source of truth for organisations, and a policy that names one it does not know does not load.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Final, NamedTuple, NoReturn

import yaml
from yaml.reader import ReaderError

from hub.rules.model import ANY, UPLOADER, DocumentType, Policy, PolicyAction, Retention
from hub.tables.organisations import OrganisationKind

CONTENT_TYPES: Final = frozenset({"application/pdf", "image/jpeg", "image/png", "image/tiff"})
"""The content types the hub's upload sniffing recognises; a policy can allow only these."""

MAX_POLICY_BYTES: Final = 1024 * 1024
"""A policy is a page or two of text; anything this large is a wrong file."""

_MAX_DAYS: Final = 100 * 365
_MAX_SIZE: Final = 5 * 1024**4  # the largest object S3 stores
_SIZE_UNITS: Final = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
_SIZE: Final = re.compile(r"(\d{1,16})\s*([A-Za-z]+)")
_DURATION: Final = re.compile(r"(\d{1,6})\s+([a-z]+)")
_CODE: Final = re.compile(r"[A-Z][A-Z0-9]{1,15}")
_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_KINDS: Final = frozenset(k.value for k in OrganisationKind)

_TOP_KEYS: Final = ("version", "purposes", "document_types")
_TYPE_REQUIRED: Final = (
    "content_types",
    "max_size",
    "retention",
    "upload",
    "read",
    "share",
    "delete",
)
_TYPE_SHARING: Final = ("share_to", "max_share_duration")

_STR_TAG: Final = "tag:yaml.org,2002:str"
_TAG_NAMES: Final = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true/false",
    "tag:yaml.org,2002:null": "empty",
    "tag:yaml.org,2002:timestamp": "a date",
}


class PolicyError(ValueError):
    """The policy file is not acceptable. The message is ``source:line:column: problem``."""

    def __init__(self, source: str, line: int, column: int, problem: str) -> None:
        super().__init__(f"{source}:{line}:{column}: {problem}")
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem


class _Entry(NamedTuple):
    key: yaml.Node
    value: yaml.Node


def load_policy_file(path: str | Path, *, organisations: Mapping[str, OrganisationKind]) -> Policy:
    """Load the policy file at ``path``; see :func:`load_policy`. A file that cannot be read
    (missing, a directory, no permission) is a :class:`PolicyError` too."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError(
            str(path), 1, 1, f"cannot read the policy file (KETENHUB_POLICY_FILE): {exc.strerror}"
        ) from None
    return load_policy(data, source=str(path), organisations=organisations)


def load_policy(
    text: str | bytes, *, source: str, organisations: Mapping[str, OrganisationKind]
) -> Policy:
    """Parse and check a policy; raises :class:`PolicyError` naming the first problem found.

    ``source`` names the file in messages. ``organisations`` maps every known organisation
    code to its kind (from the database). Pass the file's bytes, not decoded text, so that
    :attr:`Policy.hash` is the hash of exactly what is on disk; text is hashed as UTF-8.
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(source, 1, 1, f"the file is larger than {MAX_POLICY_BYTES} bytes")
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        valid = data[: exc.start].decode("utf-8")
        line, column = _position(valid, len(valid))
        raise PolicyError(source, line, column, "the file is not valid UTF-8") from None
    try:
        root = yaml.compose(decoded, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(source, exc) from None
    except ReaderError as exc:
        line, column = _position(decoded, exc.position)
        raise PolicyError(source, line, column, f"not valid YAML: {exc.reason}") from None
    if root is None:
        raise PolicyError(source, 1, 1, "the policy is empty")
    return _Reader(source, organisations).policy(root, digest=digest)


def _yaml_error(source: str, exc: yaml.MarkedYAMLError) -> PolicyError:
    """PyYAML's error at the place it noticed the problem, and where the construct began."""
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "unreadable"
    context = exc.context_mark
    if exc.context and context is not None and context.line + 1 != line:
        problem += f" ({exc.context} started on line {context.line + 1})"
    return PolicyError(source, line, column, f"not valid YAML: {problem}")


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character ``offset`` in ``text``."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


class _Reader:
    """Builds the policy from the node tree; every check raises at the node it is about."""

    def __init__(self, source: str, organisations: Mapping[str, OrganisationKind]) -> None:
        self.source = source
        self.organisations = organisations

    def fail(self, node: yaml.Node, problem: str) -> NoReturn:
        mark = node.start_mark
        raise PolicyError(self.source, mark.line + 1, mark.column + 1, problem)

    # -- generic shapes ------------------------------------------------------------------

    def mapping(self, node: yaml.Node, what: str) -> dict[str, _Entry]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping (key: value lines), not {_shape(node)}")
        entries: dict[str, _Entry] = {}
        for key, value in node.value:
            name = self.text(key, f"a key in {what}")
            if name in entries:
                first = entries[name].key.start_mark.line + 1
                self.fail(key, f"{name!r} appears twice in {what} (first on line {first})")
            entries[name] = _Entry(key, value)
        return entries

    def keys(
        self,
        entries: Mapping[str, _Entry],
        *,
        owner: yaml.Node,
        what: str,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
    ) -> None:
        allowed = required + optional
        for name, entry in entries.items():
            if name not in allowed:
                self.fail(entry.key, f"unknown key {name!r} in {what}{_suggest(name, allowed)}")
        for name in required:
            if name not in entries:
                self.fail(owner, f"{what} is missing the key {name!r}")

    def text(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR_TAG:
            quotable = isinstance(node, yaml.ScalarNode) and node.tag in _TAG_NAMES
            hint = "; put it in quotes" if quotable and _shape(node) != "empty" else ""
            self.fail(node, f"{what} must be text, not {_shape(node)}{hint}")
        value = str(node.value).strip()
        if not value:
            self.fail(node, f"{what} must not be empty")
        return value

    def text_list(self, node: yaml.Node, what: str) -> list[tuple[yaml.Node, str]]:
        if not isinstance(node, yaml.SequenceNode):
            hint = "; write [] for an empty list" if _shape(node) == "empty" else ""
            self.fail(node, f"{what} must be a list, not {_shape(node)}{hint}")
        items: list[tuple[yaml.Node, str]] = []
        for item in node.value:
            value = self.text(item, f"each entry of {what}")
            if any(value == seen for _, seen in items):
                self.fail(item, f"{value!r} is listed twice in {what}")
            items.append((item, value))
        return items

    # -- the policy ------------------------------------------------------------------------

    def policy(self, root: yaml.Node, *, digest: str) -> Policy:
        top = self.mapping(root, "the policy")
        self.keys(top, owner=root, what="the policy", required=_TOP_KEYS)
        return Policy(
            version=self.text(top["version"].value, "'version'"),
            digest=digest,
            source=self.source,
            purposes=self.purposes(top["purposes"].value),
            document_types=self.document_types(top["document_types"].value),
        )

    def purposes(self, node: yaml.Node) -> dict[str, str]:
        entries = self.mapping(node, "'purposes'")
        if not entries:
            self.fail(node, "'purposes' must name at least one processing activity")
        for code, entry in entries.items():
            if not _NAME.fullmatch(code):
                self.fail(entry.key, f"purpose code {code!r} must be lower case: a-z, 0-9, _")
        return {code: self.text(e.value, f"purpose {code!r}") for code, e in entries.items()}

    def document_types(self, node: yaml.Node) -> list[DocumentType]:
        # None at all is a policy too: the starter policy of a new hub, which allows nothing.
        entries = self.mapping(node, "'document_types'")
        return [self.document_type(name, entry) for name, entry in entries.items()]

    def document_type(self, name: str, entry: _Entry) -> DocumentType:
        if not _NAME.fullmatch(name):
            self.fail(entry.key, f"document type {name!r} must be lower case: a-z, 0-9, _")
        what = f"document type {name!r}"
        rules = self.mapping(entry.value, what)
        self.keys(
            rules, owner=entry.key, what=what, required=_TYPE_REQUIRED, optional=_TYPE_SHARING
        )
        subjects = {
            action: self.subjects(rules[action.list_name].value, name, action)
            for action in PolicyAction
            if action.list_name in rules
        }
        if subjects[PolicyAction.SHARE]:
            for key in _TYPE_SHARING:
                if key not in rules:
                    self.fail(entry.key, f"{what} may be shared, so it needs {key!r}")
            duration = rules["max_share_duration"].value
            max_share: timedelta | None = timedelta(days=self.share_days(duration))
        else:
            for key in _TYPE_SHARING:
                if key in rules:
                    self.fail(rules[key].key, f"{key!r} has no effect: nobody may share {name}")
            max_share = None
        return DocumentType(
            name=name,
            content_types=self.content_types(rules["content_types"].value, name),
            max_size=self.size(rules["max_size"].value),
            retention=self.retention(rules["retention"].value),
            max_share_duration=max_share,
            subjects=MappingProxyType(subjects),
        )

    def content_types(self, node: yaml.Node, type_name: str) -> tuple[str, ...]:
        what = f"{type_name}.content_types"
        items = self.text_list(node, what)
        if not items:
            self.fail(node, f"{what} is empty, so nothing could be uploaded")
        for item, value in items:
            if value not in CONTENT_TYPES:
                known = ", ".join(sorted(CONTENT_TYPES))
                self.fail(item, f"unknown content type {value!r} (the hub recognises {known})")
        return tuple(value for _, value in items)

    def subjects(self, node: yaml.Node, type_name: str, action: PolicyAction) -> tuple[str, ...]:
        what = f"{type_name}.{action.list_name}"
        items = self.text_list(node, what)
        if not items and action in (PolicyAction.UPLOAD, PolicyAction.RECEIVE):
            verb = "upload" if action is PolicyAction.UPLOAD else "receive"
            self.fail(node, f"{what} is empty, so nobody could {verb} one; name someone")
        kinds = {value for _, value in items if value in _KINDS}
        for item, value in items:
            self.subject(item, value, what)
            if value == UPLOADER and action is PolicyAction.UPLOAD:
                self.fail(item, f"'uploader' in {what} means nothing: no document exists yet")
            if value == UPLOADER and action is PolicyAction.RECEIVE:
                self.fail(item, f"'uploader' in {what} means nothing: it reads its own already")
            if value == ANY and len(items) > 1:
                self.fail(item, f"'any' in {what} includes everyone: list it alone")
            kind = self.organisations.get(value)
            # str(): a kind read from a database row may be plain text rather than the enum.
            if kind is not None and str(kind) in kinds:
                self.fail(item, f"{value!r} in {what} is already covered by {str(kind)!r}")
        return tuple(value for _, value in items)

    def subject(self, node: yaml.Node, value: str, what: str) -> None:
        if value in (UPLOADER, ANY) or value in _KINDS:
            return
        if _CODE.fullmatch(value):
            if value not in self.organisations:
                self.fail(
                    node, f"unknown organisation {value!r} in {what}; add it to the hub first"
                )
            return
        if value.upper() in self.organisations:
            hint = f"; organisation codes are upper case: {value.upper()!r}"
        else:
            choices = (*sorted(_KINDS), UPLOADER, ANY, *sorted(self.organisations))
            hint = _suggest(value.lower(), choices)
        self.fail(
            node,
            f"unknown subject {value!r} in {what}{hint} (a subject is an organisation code, "
            f"a kind ({', '.join(sorted(_KINDS))}), 'uploader' or 'any')",
        )

    def size(self, node: yaml.Node) -> int:
        value = self.text(node, "max_size")
        found = _SIZE.fullmatch(value)
        if found is None:
            self.fail(node, f"max_size {value!r} is not a size; write e.g. '256 MiB'")
        number, unit = int(found.group(1)), found.group(2)
        if unit not in _SIZE_UNITS:
            units = ", ".join(_SIZE_UNITS)
            self.fail(node, f"unknown size unit {unit!r}; use one of {units} (binary units)")
        size = number * _SIZE_UNITS[unit]
        if not 0 < size <= _MAX_SIZE:
            self.fail(node, f"max_size {value!r} must be more than 0 and at most 5 TiB")
        return size

    def retention(self, node: yaml.Node) -> Retention:
        value = self.text(node, "retention")
        number, unit = self.duration(node, value, "retention", ("years", "weeks", "days"))
        if unit == "years":
            return Retention(years=number, days=0, text=value)
        return Retention(years=0, days=number * 7 if unit == "weeks" else number, text=value)

    def share_days(self, node: yaml.Node) -> int:
        value = self.text(node, "max_share_duration")
        number, unit = self.duration(node, value, "max_share_duration", ("weeks", "days"))
        return number * 7 if unit == "weeks" else number

    def duration(
        self, node: yaml.Node, value: str, what: str, units: tuple[str, ...]
    ) -> tuple[int, str]:
        found = _DURATION.fullmatch(value)
        if found is None:
            self.fail(node, f"{what} {value!r} is not a duration; write e.g. '90 days'")
        number, written = int(found.group(1)), found.group(2)
        unit = written if written.endswith("s") else written + "s"  # "1 year", "2 years"
        if unit not in units:
            why = " (months differ in length)" if unit == "months" else ""
            self.fail(node, f"{what} cannot be in {written!r}{why}; use {', '.join(units)}")
        days = number * {"years": 365, "weeks": 7, "days": 1}[unit]
        if not 0 < days <= _MAX_DAYS:
            self.fail(node, f"{what} {value!r} must be more than 0 and at most 100 years")
        return number, unit


def _shape(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _STR_TAG:
        return "text"
    return _TAG_NAMES.get(node.tag, f"a value tagged {node.tag}")


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
