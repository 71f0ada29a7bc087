"""The sharing policy as the hub applies it: who may do what with which type of document.

A :class:`Policy` is built once, by :mod:`hub.rules.loader`, from the administrator's YAML file,
and never changes afterwards; a new file means a new ``Policy``. Deciding is pure (no I/O, no
clock) and cheap: every lookup a decision needs is a dictionary prepared when the policy is
built, so the hub can decide on every request, and once per row when it filters.

**Deny by default.** Only what a list in the file grants is allowed; everything else is denied
with the rule :data:`DEFAULT_DENY`, and a type the file does not name with
:data:`UNKNOWN_DOCUMENT_TYPE`.

**Subjects.** Each list of a document type (``upload``, ``read``, ``share``, ``delete``,
``share_to``) names who it grants, in one of four ways:

- an organisation code (``DTV``, ``GM0363``), always in capitals;
- an organisation kind (``rijk``, ``gemeente``, ``stichting``, ``internationaal``), in lower
  case: every organisation of that kind, including ones added after the policy was loaded;
- ``uploader``: the organisation that uploaded the document in question;
- ``any``: every organisation.

**Rule names.** Every :class:`Decision` names the rule that made it, and the audit trail records
that name. A rule granted by a list is named ``<type>.<list>[<subject>]``, exactly as the file
reads: ``travel_document.read[DTV]``, ``case_info.upload[gemeente]``,
``travel_document.share[uploader]``, ``travel_document.share_to[any]``. Built-in rules:

- :data:`UPLOADER_READS_OWN` (``uploader-reads-own``): an organisation always reads the
  documents it uploaded. Where the type's ``read`` list names ``uploader`` that entry's name is
  used instead, so the file, not the engine, is credited where it says so.
- :data:`DEFAULT_DENY` (``default-deny``) and :data:`UNKNOWN_DOCUMENT_TYPE`
  (``unknown-document-type``): the denials.

**Order of matching.** A code, then a kind, then ``any`` (the loader makes these exclusive: a
list cannot name both a code and its kind, nor ``any`` beside anything), and only then
``uploader``. So when DTV reads a travel document it uploaded itself, the rule is
``travel_document.read[DTV]``: the grant that holds for every such document wins over the one
that holds for this document only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from hub.tables.organisations import OrganisationKind

DEFAULT_DENY: Final = "default-deny"
UNKNOWN_DOCUMENT_TYPE: Final = "unknown-document-type"
UPLOADER_READS_OWN: Final = "uploader-reads-own"

UPLOADER: Final = "uploader"
"""The subject that matches the organisation that uploaded the document in question."""
ANY: Final = "any"
"""The subject that matches every organisation."""

BUILT_IN_RULES: Final = MappingProxyType(
    {
        UPLOADER_READS_OWN: "An organisation always reads the documents it uploaded.",
        DEFAULT_DENY: "Nothing in the policy grants this: denied.",
        UNKNOWN_DOCUMENT_TYPE: "The policy does not know this document type: denied.",
    }
)


class PolicyAction(StrEnum):
    """What a party wants to do with a document (type). Each names one list of the file."""

    UPLOAD = "upload"
    READ = "read"
    """Read without a share; shares are the shares service's business."""
    SHARE = "share"
    DELETE = "delete"
    RECEIVE = "receive"
    """Be the grantee of a share: the type's ``share_to`` list."""

    @property
    def list_name(self) -> str:
        """The key of the list in the policy file that grants this action."""
        return "share_to" if self is PolicyAction.RECEIVE else self.value


class ShareScope(StrEnum):
    """Which documents of a type in a case a case share by this grantor covers."""

    ALL = "all"
    """The grantor may share every document of the type (by its code or kind)."""
    OWN = "own"
    """The grantor may share only what it uploaded itself (the ``uploader`` entry)."""
    NONE = "none"
    """The grantor may share none."""


_CODE: Final = re.compile(r"[A-Z][A-Z0-9]{1,15}")


@dataclass(frozen=True, slots=True)
class Party:
    """An organisation as the policy sees it: its code and its kind, both from the database.

    The code is checked to be one (upper case), so that no party can pose as a kind or as
    ``any``, and the kind is normalised to :class:`OrganisationKind` (a row read from the
    database may hold it as plain text); anything else raises ``ValueError``.
    """

    code: str
    kind: OrganisationKind

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code):
            raise ValueError(f"not an organisation code: {self.code!r}")
        object.__setattr__(self, "kind", OrganisationKind(self.kind))


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one question: allowed or not, and the name of the rule that said so."""

    allowed: bool
    rule: str


@dataclass(frozen=True, slots=True)
class Retention:
    """How long documents of a type are kept: whole calendar years plus days.

    A year is a calendar year, not 365 days: five years from 3 March 2025 end on 3 March 2030,
    as an archivist reads "5 jaar", whatever the leap days between. A period that starts on
    29 February and lands in a year without one ends on 1 March, so a document is never
    destroyed before its full period has passed.
    """

    years: int
    days: int
    text: str
    """The period as the file wrote it, e.g. ``5 years``."""

    @property
    def nominal_days(self) -> int:
        """The period in days, counting a year as 365 (for display; not for deadlines)."""
        return self.years * 365 + self.days

    def expires_at(self, start: datetime) -> datetime:
        """The moment the period that began at ``start`` is over (same time of day, zone)."""
        year = start.year + self.years
        try:
            moved = start.replace(year=year)
        except ValueError:  # 29 February, into a year without one
            moved = start.replace(year=year, month=3, day=1)
        return moved + timedelta(days=self.days)


@dataclass(frozen=True, slots=True)
class DocumentType:
    """One document type's rules, as the file gave them (subjects in the file's order)."""

    name: str
    content_types: tuple[str, ...]
    """MIME types an upload of this type may have (as sniffed from the content)."""
    max_size: int
    """The largest upload, in bytes."""
    retention: Retention
    max_share_duration: timedelta | None
    """The longest a share of this type may last; ``None`` when nobody may share it."""
    subjects: Mapping[PolicyAction, tuple[str, ...]]
    """Per action, the subjects of its list (empty when the list is empty or absent)."""

    def rule_name(self, action: PolicyAction, subject: str) -> str:
        return f"{self.name}.{action.list_name}[{subject}]"


@dataclass(frozen=True, slots=True)
class Grantees:
    """Everyone one list of one document type grants, as a query over many organisations at
    once must test it (a listing's SQL filter asks "may the grantor of this share row share
    this document?" for every row). An organisation is granted when its code is in ``codes``,
    or its kind in ``kinds``, or ``anyone`` holds, or ``uploader`` holds and it uploaded the
    document in question: exactly what :meth:`Policy.decide` allows, rule names aside.
    """

    codes: frozenset[str]
    kinds: frozenset[str]
    anyone: bool
    uploader: bool
    """The uploading organisation is granted: the ``uploader`` entry, or for ``read`` the
    built-in :data:`UPLOADER_READS_OWN`."""


NOBODY: Final = Grantees(codes=frozenset(), kinds=frozenset(), anyone=False, uploader=False)


@dataclass(frozen=True, slots=True)
class _Grant:
    """What one list grants, prepared for lookup.

    ``match`` is keyed by organisation code, kind value and ``any`` at once: codes are upper
    case and kinds and ``any`` lower case, so the keys never collide, and a party is matched
    with at most three dictionary lookups. Each value is the ready-made :class:`Decision`, so
    deciding allocates nothing.
    """

    match: Mapping[str, Decision]
    uploader: Decision | None


_DENIED: Final = Decision(allowed=False, rule=DEFAULT_DENY)
_UNKNOWN: Final = Decision(allowed=False, rule=UNKNOWN_DOCUMENT_TYPE)


def _grant(document_type: DocumentType, action: PolicyAction) -> _Grant:
    subjects = document_type.subjects.get(action, ())
    match = {
        s: Decision(allowed=True, rule=document_type.rule_name(action, s))
        for s in subjects
        if s != UPLOADER
    }
    uploader: Decision | None = None
    if UPLOADER in subjects:
        uploader = Decision(allowed=True, rule=document_type.rule_name(action, UPLOADER))
    elif action is PolicyAction.READ:
        uploader = Decision(allowed=True, rule=UPLOADER_READS_OWN)
    return _Grant(match=MappingProxyType(match), uploader=uploader)


class Policy:
    """A loaded sharing policy: immutable, and every question answered without I/O.

    Build one with :func:`hub.rules.loader.load_policy`; the constructor trusts that the
    loader has validated what it is given.
    """

    __slots__ = ("_grants", "_hash", "_purposes", "_source", "_types", "_version")

    def __init__(
        self,
        *,
        version: str,
        digest: str,
        source: str,
        purposes: Mapping[str, str],
        document_types: Iterable[DocumentType],
    ) -> None:
        self._version = version
        self._hash = digest
        self._source = source
        self._purposes: Mapping[str, str] = MappingProxyType(dict(purposes))
        self._types: Mapping[str, DocumentType] = MappingProxyType(
            {t.name: t for t in document_types}
        )
        self._grants: Mapping[tuple[str, PolicyAction], _Grant] = MappingProxyType(
            {(t.name, a): _grant(t, a) for t in self._types.values() for a in PolicyAction}
        )

    @property
    def version(self) -> str:
        """The administrator's version string, from the file."""
        return self._version

    @property
    def hash(self) -> str:
        """``sha256:<hex>`` of the file's exact bytes: what the audit trail and /readyz show."""
        return self._hash

    @property
    def source(self) -> str:
        """Where the policy was loaded from (a path), for messages and logs."""
        return self._source

    @property
    def purposes(self) -> Mapping[str, str]:
        """Processing-activity code -> description."""
        return self._purposes

    @property
    def document_types(self) -> Mapping[str, DocumentType]:
        return self._types

    def document_type(self, name: str) -> DocumentType | None:
        return self._types.get(name)

    def decide(
        self,
        party: Party,
        action: PolicyAction,
        document_type: str,
        *,
        uploader: str | None = None,
    ) -> Decision:
        """May ``party`` do ``action`` on a document of ``document_type``?

        ``uploader`` is the code of the organisation that uploaded the document in question;
        ``None`` asks about the type in general (may this party upload it, read every document
        of it), and then ``uploader`` entries do not match. It is ignored for ``UPLOAD`` and
        ``RECEIVE``, whose lists cannot name ``uploader``.
        """
        grant = self._grants.get((document_type, action))
        if grant is None:
            return _UNKNOWN
        match = grant.match
        decision = match.get(party.code) or match.get(party.kind) or match.get(ANY)
        if decision is not None:
            return decision
        if grant.uploader is not None and uploader is not None and uploader == party.code:
            return grant.uploader
        return _DENIED

    def grantees(self, document_type: str, action: PolicyAction) -> Grantees:
        """Everyone ``action`` on ``document_type`` is granted to (:data:`NOBODY` for a type
        the policy does not know), for filters that cannot ask :meth:`decide` row by row."""
        grant = self._grants.get((document_type, action))
        if grant is None:
            return NOBODY
        keys = frozenset(grant.match)
        return Grantees(
            codes=frozenset(k for k in keys if _CODE.fullmatch(k)),
            kinds=frozenset(k for k in keys if k != ANY and not _CODE.fullmatch(k)),
            anyone=ANY in keys,
            uploader=grant.uploader is not None,
        )

    def may_receive(self, party: Party, document_type: str) -> Decision:
        """May a share of ``document_type`` be granted to ``party`` (``share_to``)?"""
        return self.decide(party, PolicyAction.RECEIVE, document_type)

    def readable_types(self, party: Party) -> frozenset[str]:
        """The types ``party`` reads every document of, without a share.

        The uploader rule is not counted: it holds per document, not per type (a listing's
        filter, :mod:`hub.access.listing`, adds "or uploaded by the party" itself).
        """
        return frozenset(
            name for name in self._types if self.decide(party, PolicyAction.READ, name).allowed
        )

    def share_scope(self, party: Party, document_type: str) -> ShareScope:
        """Which documents of ``document_type`` a case share granted by ``party`` covers.

        ``OWN`` is the answer for every party when the ``share`` list names ``uploader``; for a
        party that uploaded no such document it covers nothing.
        """
        grant = self._grants.get((document_type, PolicyAction.SHARE))
        if grant is None:
            return ShareScope.NONE
        if self.decide(party, PolicyAction.SHARE, document_type).allowed:
            return ShareScope.ALL
        return ShareScope.OWN if grant.uploader is not None else ShareScope.NONE

    def max_share_duration(self, document_types: Iterable[str]) -> timedelta:
        """The longest a share covering all of ``document_types`` may last: the strictest.

        Raises ``ValueError`` when ``document_types`` is empty, or names a type that is
        unknown or that nobody may share (ask :meth:`decide` first).
        """
        durations = []
        for name in document_types:
            found = self._types.get(name)
            if found is None:
                raise ValueError(f"unknown document type {name!r}")
            if found.max_share_duration is None:
                raise ValueError(f"documents of type {name!r} cannot be shared")
            durations.append(found.max_share_duration)
        if not durations:
            raise ValueError("no document types given")
        return min(durations)

    def as_dict(self) -> dict[str, Any]:
        """The whole policy as JSON-ready data: sizes in bytes, durations in days."""
        return {
            "version": self._version,
            "hash": self._hash,
            "purposes": dict(self._purposes),
            "document_types": [_type_as_dict(t) for t in self._types.values()],
            "built_in_rules": dict(BUILT_IN_RULES),
        }

    def __repr__(self) -> str:
        return f"<Policy {self._version!r} {self._hash} from {self._source}>"


def _type_as_dict(document_type: DocumentType) -> dict[str, Any]:
    duration = document_type.max_share_duration
    return {
        "name": document_type.name,
        "content_types": list(document_type.content_types),
        "max_size": document_type.max_size,
        "retention": document_type.retention.text,
        "retention_days": document_type.retention.nominal_days,
        "max_share_duration_days": None if duration is None else duration.days,
        **{a.list_name: list(document_type.subjects.get(a, ())) for a in PolicyAction},
    }
