"""What an audit event says: its tags, its fields and its leaf.

An event is shaped after the Logboek Dataverwerkingen standard (Logius) and carries the BIO's
minimum fields (action, object, result, origin, actor, timestamp). Its *leaf* is the JSON object
that the Merkle log hashes, ``leaf_hash = SHA-256(0x00 || JCS(leaf))``:

==========================  =================================================================
``seq``                     0-based position in the log; equals the leaf index
``time``                    RFC 3339 UTC with microseconds, ``2026-11-29T10:00:00.000000Z``
``action``                  an :class:`Action` tag, ``subject.verb``
``outcome``                 an :class:`Outcome`; LDV's ``status`` is derived (:func:`ldv_status`)
``actor_type``              ``client``, ``user``, ``operator`` (the command line) or ``system``
``actor_id``                the client id, user name or operator's login
``organisation``            the actor's organisation code
``resource_type``           what was acted on: ``document``, ``client``, ``key``, ``audit`` …
``resource_id``             its identifier (never personal data)
``trace_id``, ``span_id``   W3C trace context of this operation (32 and 16 lowercase hex)
``foreign_span_id``         the caller's span from an inbound ``traceparent``: the partner's
                            own operation, which its log can link to
``processing_activity_id``  the URI of the purpose in the register of processing activities
``data_subject_id``         the pseudonym of the person concerned (a keyed hash of the
                            v-number, never the number itself) …
``data_subject_id_type``    … and what it identifies: ``vreemdelingennummer``
``policy_rule``             the rule of the sharing policy that decided
``source_address``          the caller's network address
``detail``                  a short reason, from a fixed vocabulary of the hub's own words
``actor_issuer``            the trusted partner issuer whose token the actor presented; absent
                            for the hub's own clients. A partner's client ids are its own, so
                            ``actor_id`` alone may name one of the hub's clients
``actor_client``            for a person (``actor_type`` ``user``), the client they acted
                            through, such as the web UI's ``ketenhub-web``; absent otherwise
``content_sha256``          on ``document.upload`` and ``document.download``: the SHA-256 of
                            the document's whole content, 64 lowercase hex digits …
``content_size``            … and its size in bytes, a JSON *number* (the only one besides
                            ``seq``), so a receipt proves which bytes were received or served
``range``                   on a range download: the bytes served, ``start-end`` (inclusive
                            offsets, as the ``Content-Range`` said); absent for the whole
==========================  =================================================================

Absent values are omitted from the leaf, never ``null``. The leaf is exactly what is stored, so
the API can hand it out and anyone can recompute its hash.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from audit.canonical import MAX_SAFE_INTEGER, canonical_json
from audit.merkle import leaf_hash

__all__ = [
    "Action",
    "ActorType",
    "Event",
    "Outcome",
    "PreparedLeaf",
    "format_time",
    "ldv_status",
    "leaf_bytes",
    "leaf_hash_of",
    "parse_time",
]

_HEX32: Final = re.compile(r"[0-9a-f]{32}")
_HEX16: Final = re.compile(r"[0-9a-f]{16}")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_RANGE: Final = re.compile(r"(0|[1-9][0-9]*)-(0|[1-9][0-9]*)")
MAX_TEXT: Final = 512
MAX_SIZE: Final = 2**53 - 1
"""The largest ``content_size``: a JSON number holds it exactly (JCS, I-JSON)."""


class Action(StrEnum):
    """Audit tags, ``subject.verb``; one per thing the hub does or refuses to do."""

    # ruff's S105 takes "token.*" tag names for passwords; they are event names.

    TOKEN_ISSUE = "token.issue"  # noqa: S105
    TOKEN_REVOKE = "token.revoke"  # noqa: S105
    TOKEN_INTROSPECT = "token.introspect"  # noqa: S105
    TOKEN_REFUSE = "token.refuse"  # noqa: S105
    """A validly signed token of a trusted partner issuer, for an organisation that issuer may
    not act for."""
    CLIENT_ADD = "client.add"
    CLIENT_DISABLE = "client.disable"
    CLIENT_ENABLE = "client.enable"
    ORGANISATION_ADD = "organisation.add"
    ORGANISATION_DISABLE = "organisation.disable"
    ORGANISATION_ENABLE = "organisation.enable"
    ORGANISATION_UPDATE = "organisation.update"
    KEY_ROTATE = "key.rotate"
    KEY_REWRAP = "key.rewrap"
    KEY_RETIRE = "key.retire"
    AUDIT_QUERY = "audit.query"
    AUDIT_EXPORT = "audit.export"
    AUDIT_SUBJECT_REPORT = "audit.subject_report"
    AUDIT_CHECKPOINT = "audit.checkpoint"
    AUDIT_VERIFY = "audit.verify"
    """A verification of the trail started or finished from the console, or a checkpoint a
    partner kept checked against the log (``detail`` says which, and what was found)."""
    DOCUMENT_UPLOAD = "document.upload"
    DOCUMENT_READ = "document.read"
    DOCUMENT_LIST = "document.list"
    DOCUMENT_SEARCH = "document.search"
    DOCUMENT_DOWNLOAD = "document.download"
    DOCUMENT_DELETE = "document.delete"
    DOCUMENT_SHRED = "document.shred"
    UPLOAD_CREATE = "upload.create"
    """A resumable (tus) upload created: the policy decided on its metadata."""
    UPLOAD_APPEND = "upload.append"
    """Bytes appended to a resumable upload. Only refusals are recorded (and the completion,
    as the ``document.upload`` it makes); a successful PATCH is progress, not an access."""
    UPLOAD_TERMINATE = "upload.terminate"
    UPLOAD_EXPIRE = "upload.expire"
    """An unfinished resumable upload swept at its expiry, its parts deleted."""
    SHARE_CREATE = "share.create"
    SHARE_REVOKE = "share.revoke"
    SHARE_READ = "share.read"
    SHARE_LIST = "share.list"
    POLICY_LOAD = "policy.load"
    POLICY_EXPLAIN = "policy.explain"
    STORAGE_SWEEP = "storage.sweep"
    METRICS_READ = "metrics.read"
    """Only refusals are recorded: scrapes hold no personal data and come every few seconds."""
    INBOX_READ = "inbox.read"
    """A read of the feed of what became visible to an organisation (the web UI's home page,
    and ``GET /api/v1/inbox``): one event per page read, its size in ``detail``."""
    WEBHOOK_SUBSCRIBE = "webhook.subscribe"
    """A partner client registered a webhook endpoint (or was refused one: a bad URL)."""
    WEBHOOK_UNSUBSCRIBE = "webhook.unsubscribe"
    WEBHOOK_READ = "webhook.read"
    """A read of the caller's subscriptions or of a subscription's deliveries."""
    LOGIN = "user.login"
    USER_LOGOUT = "user.logout"
    USER_LOCK = "user.lock"
    USER_UNLOCK = "user.unlock"
    USER_FACTOR_ENROL = "user.factor_enrol"
    USER_FACTOR_RESET = "user.factor_reset"
    USER_PASSWORD_CHANGE = "user.password_change"  # noqa: S105 - an event tag, not a password
    USER_PASSWORD_RESET = "user.password_reset"  # noqa: S105 - an event tag, not a password
    USER_ADD = "user.add"
    USER_DISABLE = "user.disable"
    USER_ENABLE = "user.enable"
    USER_RECOVERY_USE = "user.recovery_use"
    USER_ROLE_CHANGE = "user.role_change"
    """An administrator changed a person's roles; ``detail`` names the old and the new."""
    HTTP_REFUSE = "http.refuse"
    """A 4xx answer no service recorded (a missing token, validation, an unknown path ...)."""
    HTTP_ERROR = "http.error"
    """A 5xx answer no service recorded."""
    HTTP_REFUSE_SUMMARY = "http.refuse_summary"
    """The counted refusals of a caller who never authenticated, per source and interval."""


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    ERROR = "error"


class ActorType(StrEnum):
    CLIENT = "client"
    USER = "user"
    OPERATOR = "operator"
    SYSTEM = "system"
    """The hub itself: a timer (retention) or its start (loading the policy)."""


def ldv_status(outcome: str) -> str:
    """LDV's ``status``: OK for success, ERROR for everything else."""
    return "OK" if outcome == Outcome.SUCCESS else "ERROR"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with exactly six fractional digits and ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One thing that happened, before the log gives it a ``seq`` and a time."""

    action: Action
    outcome: Outcome
    actor_type: ActorType | None = None
    actor_id: str | None = None
    organisation: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    foreign_span_id: str | None = None
    processing_activity_id: str | None = None
    data_subject_id: str | None = None
    data_subject_id_type: str | None = None
    policy_rule: str | None = None
    source_address: str | None = None
    detail: str | None = None
    actor_issuer: str | None = None
    actor_client: str | None = None
    content_sha256: str | None = None
    content_size: int | None = None
    range: str | None = None

    def __post_init__(self) -> None:
        if self.trace_id is not None and not _HEX32.fullmatch(self.trace_id):
            raise ValueError("trace_id must be 32 lowercase hex digits")
        for name in ("span_id", "foreign_span_id"):
            value = getattr(self, name)
            if value is not None and not _HEX16.fullmatch(value):
                raise ValueError(f"{name} must be 16 lowercase hex digits")
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, str) and (len(value) > MAX_TEXT or not value.isprintable()):
                raise ValueError(f"{field.name} must be printable text of at most {MAX_TEXT}")
        if (self.data_subject_id is None) != (self.data_subject_id_type is None):
            raise ValueError("data_subject_id and data_subject_id_type go together")
        self._check_content()

    def _check_content(self) -> None:
        """The content fields: both or neither, and a range only within the content."""
        if (self.content_sha256 is None) != (self.content_size is None):
            raise ValueError("content_sha256 and content_size go together")
        if self.content_sha256 is not None and not _HEX64.fullmatch(self.content_sha256):
            raise ValueError("content_sha256 must be 64 lowercase hex digits")
        size = self.content_size
        if size is not None and (type(size) is not int or not 0 <= size <= MAX_SIZE):
            raise ValueError(f"content_size must be an integer from 0 to {MAX_SIZE}")
        if self.range is None:
            return
        match = _RANGE.fullmatch(self.range)
        if size is None or match is None:
            raise ValueError("range must be 'start-end' and comes with the content fields")
        start, end = int(match[1]), int(match[2])
        if not start <= end < size:
            raise ValueError(f"range {self.range} is not within content of {size} bytes")

    def leaf(self, *, seq: int, time: datetime) -> dict[str, Any]:
        """The stored, hashed object: ``seq``, ``time`` and every field that has a value; the
        numbers (``content_size``) as numbers, everything else as text."""
        leaf: dict[str, Any] = {"seq": seq, "time": format_time(time)}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                leaf[field.name] = value if type(value) is int else str(value)
        return leaf

    def prepare(self) -> PreparedLeaf:
        """Everything of the leaf that does not depend on ``seq`` and ``time``, computed now:
        the log does this before it takes its lock, and only splices those two in under it."""
        return PreparedLeaf.of(self)


LEAF_FIELDS: Final = ("seq", "time", *(f.name for f in fields(Event)))


def leaf_bytes(leaf: Mapping[str, Any]) -> bytes:
    return canonical_json(dict(leaf))


def leaf_hash_of(leaf: Mapping[str, Any]) -> bytes:
    """``SHA-256(0x00 || JCS(leaf))`` (RFC 6962 leaf hash of the canonical event)."""
    return leaf_hash(leaf_bytes(leaf))


_LEAF_PREFIX: Final = b"\x00"


@dataclass(frozen=True, slots=True)
class PreparedLeaf:
    """An event's leaf and leaf hash, waiting only for ``seq`` and ``time``.

    JCS (RFC 8785) writes an object's members sorted by name, so the canonical bytes of a leaf
    are its members' bytes joined in that order, and ``"seq"`` and ``"time"`` fall at fixed
    places among the others. The members before ``"seq"`` (most of the bytes) are hashed
    already, the rest is kept as bytes: :meth:`leaf_hash` continues the hash with ``seq``, the
    members between, ``time`` and the members after. Every name is one of the ASCII names of
    :data:`LEAF_FIELDS`, where UTF-16 order and code-point order agree, and each member is
    written by :func:`audit.canonical.canonical_json`; so the result is byte for byte
    :func:`leaf_hash_of` of :meth:`Event.leaf` (the tests compare the two, and with an
    independent JCS implementation).
    """

    fields: dict[str, Any]
    """The leaf's members other than ``seq`` and ``time``, in the leaf's order."""
    before_seq: Any
    """The SHA-256 state after ``0x00``, ``{`` and the members sorted before ``"seq"``."""
    between: bytes
    """The members sorted between ``"seq"`` and ``"time"``, each after its comma."""
    after: bytes
    """The members sorted after ``"time"``, each after its comma, and the closing brace."""

    @classmethod
    def of(cls, event: Event) -> PreparedLeaf:
        fields_ = {
            field.name: value if type(value) is int else str(value)
            for field in fields(event)
            if (value := getattr(event, field.name)) is not None
        }
        names = sorted(fields_)
        seq_at = bisect_left(names, "seq")
        time_at = bisect_left(names, "time")

        def members(part: list[str]) -> bytes:
            # The members of a part, without braces: a part of a sorted object is sorted too.
            return canonical_json({name: fields_[name] for name in part})[1:-1]

        head, between, after = (
            members(names[:seq_at]),
            members(names[seq_at:time_at]),
            members(names[time_at:]),
        )
        return cls(
            fields=fields_,
            before_seq=hashlib.sha256(_LEAF_PREFIX + b"{" + head + (b"," if head else b"")),
            between=b"," + between if between else b"",
            after=(b"," + after if after else b"") + b"}",
        )

    def leaf(self, *, seq: int, time: str) -> dict[str, Any]:
        """The stored leaf: ``seq``, ``time`` (already formatted, :func:`format_time`), then
        the other members, as :meth:`Event.leaf` orders them."""
        return {"seq": seq, "time": time, **self.fields}

    def leaf_hash(self, *, seq: int, time: str) -> bytes:
        """``SHA-256(0x00 || JCS(leaf))`` of :meth:`leaf`."""
        if type(seq) is not int or not 0 <= seq <= MAX_SAFE_INTEGER:
            raise ValueError(f"seq must be an integer from 0 to {MAX_SAFE_INTEGER}")
        digest = self.before_seq.copy()
        digest.update(b'"seq":%d%s,"time":%s%s' % (seq, self.between, _time_json(time), self.after))
        return bytes(digest.digest())


def _time_json(time: str) -> bytes:
    """A formatted time as a JSON string; it holds only digits, ``-:.TZ``, so nothing escapes."""
    if len(time) != 27 or not time.isascii() or '"' in time or "\\" in time:
        raise ValueError("time must be formatted by format_time")
    return b'"%s"' % time.encode("ascii")
