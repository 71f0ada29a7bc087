"""What the policy leaves a person's forms: which types to upload, what to share with whom,
until when; and, for what it does not allow, the rule that says no.

The forms offer only what the policy allows (the service decides again on submit, so a form is
a convenience, never the check), and say why not otherwise: each refusal names the rule that
decided, as ``POST /api/v1/policy/explain`` would (:meth:`hub.rules.model.Policy.decide`, the
one decision the services apply). These are the policy's answers about the person's own
organisation, which it may read whole (``GET /api/v1/policy``): nothing personal, nothing to
record.

**Dates.** A share form asks for a date, not a moment: a share "until 12 March" lasts to the
end of that day in the Netherlands (:data:`ZONE`), i.e. until 13 March 00:00 there. The latest
date offered is the last one whose end lies within the policy's maximum from now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from hub.rules.model import Party, Policy, PolicyAction, ShareScope
from hub.tables.organisations import Organisation

ZONE: Final = ZoneInfo("Europe/Amsterdam")
"""The zone a form's dates are meant in: the chain's own."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A document type the form does not offer, and the rule that refused it."""

    document_type: str
    rule: str


@dataclass(frozen=True, slots=True)
class UploadOption:
    """A type the organisation may upload: what content it takes, and how large."""

    document_type: str
    content_types: tuple[str, ...]
    max_size: int


@dataclass(frozen=True, slots=True)
class UploadChoices:
    options: tuple[UploadOption, ...]
    refused: tuple[Refused, ...]

    @property
    def allowed(self) -> bool:
        return bool(self.options)

    def offers(self, document_type: str) -> bool:
        return any(o.document_type == document_type for o in self.options)


def upload_choices(policy: Policy, party: Party) -> UploadChoices:
    """The types ``party`` may upload, and the rule refusing each other type."""
    options: list[UploadOption] = []
    refused: list[Refused] = []
    for name, document_type in policy.document_types.items():
        decision = policy.decide(party, PolicyAction.UPLOAD, name)
        if decision.allowed:
            options.append(UploadOption(name, document_type.content_types, document_type.max_size))
        else:
            refused.append(Refused(name, decision.rule))
    return UploadChoices(tuple(options), tuple(refused))


@dataclass(frozen=True, slots=True)
class Grantee:
    """An organisation a share may go to."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class ShareOption:
    """A type the organisation may share: whose documents (``scope``: all of the type, or
    only its own uploads), for how long at most, and who may receive it."""

    document_type: str
    scope: ShareScope
    max_days: int
    receivers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ShareChoices:
    options: tuple[ShareOption, ...]
    refused: tuple[Refused, ...]
    grantees: tuple[Grantee, ...]
    """Enabled organisations, other than the grantor, that may receive an offered type."""
    purposes: Mapping[str, str]

    @property
    def allowed(self) -> bool:
        return bool(self.options) and bool(self.grantees)

    def offers(self, document_type: str) -> bool:
        return any(o.document_type == document_type for o in self.options)

    def max_days(self, document_types: Iterable[str]) -> int:
        """The strictest maximum of the offered ``document_types`` (of all offered, if none)."""
        wanted = set(document_types)
        days = [o.max_days for o in self.options if not wanted or o.document_type in wanted]
        return min(days, default=0)

    def longest_days(self, document_types: Iterable[str]) -> int:
        """The most lenient maximum of the offered ``document_types`` (of all offered, if
        none): the latest day the form's date field may take, whichever types are ticked
        (the service refuses a day beyond the strictest of those ticked)."""
        wanted = set(document_types)
        days = [o.max_days for o in self.options if not wanted or o.document_type in wanted]
        return max(days, default=0)


def share_choices(
    policy: Policy,
    party: Party,
    organisations: Iterable[Organisation],
    *,
    uploader: str | None = None,
    document_type: str | None = None,
) -> ShareChoices:
    """What ``party`` may share, and with whom. For one document give its ``document_type``
    and ``uploader``: then only that type is considered, decided for that uploader.

    A case share offers a type the party may share all of (``ALL``) or only its own uploads of
    (``OWN``, :meth:`~hub.rules.model.Policy.share_scope`) and may upload; a type it may share
    only its own of but not upload is refused by its ``upload`` rule, a type no organisation
    may receive by its ``share_to`` rule.
    """
    others = [o for o in organisations if o.enabled and o.code != party.code]
    parties = {o.code: Party(o.code, o.kind) for o in others}
    names = [document_type] if document_type is not None else list(policy.document_types)
    options: list[ShareOption] = []
    refused: list[Refused] = []
    for name in names:
        found = policy.document_type(name)
        decision = policy.decide(party, PolicyAction.SHARE, name, uploader=uploader)
        if uploader is None:
            scope = policy.share_scope(party, name)
        else:
            scope = ShareScope.ALL if decision.allowed else ShareScope.NONE
        if found is None or found.max_share_duration is None or scope is ShareScope.NONE:
            refused.append(Refused(name, decision.rule))
            continue
        if uploader is None and scope is ShareScope.OWN:
            # Only its own uploads, and it may upload none: nothing it could ever share.
            upload = policy.decide(party, PolicyAction.UPLOAD, name)
            if not upload.allowed:
                refused.append(Refused(name, upload.rule))
                continue
        receivers = tuple(
            code for code, other in parties.items() if policy.may_receive(other, name).allowed
        )
        if not receivers:
            refused.append(Refused(name, policy.decide(party, PolicyAction.RECEIVE, name).rule))
            continue
        options.append(ShareOption(name, scope, found.max_share_duration.days, receivers))
    reachable = {code for option in options for code in option.receivers}
    grantees = tuple(Grantee(o.code, o.name) for o in others if o.code in reachable)
    return ShareChoices(tuple(options), tuple(refused), grantees, policy.purposes)


def form_day(text: str) -> date:
    """A day as a form sends it (``YYYY-MM-DD``); ``ValueError`` for anything else, the
    calendar's last day included: a filter or a share ends at the start of the day after
    (:func:`share_expiry`), which ``datetime`` cannot hold for 9999-12-31."""
    day = date.fromisoformat(text)
    if day >= date.max:
        raise ValueError("a day before 9999-12-31")
    return day


def share_expiry(day: date) -> datetime:
    """The moment a share "until ``day``" ends: the start of the next day, in :data:`ZONE`."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=ZONE)


def latest_day(now: datetime, max_days: int) -> date:
    """The last day a share made ``now`` may run until, lasting at most ``max_days``."""
    limit = now + timedelta(days=max_days)
    day = limit.astimezone(ZONE).date()
    while share_expiry(day) > limit:
        day -= timedelta(days=1)
    return day


def today(now: datetime) -> date:
    """The earliest day a share may run until: today, in :data:`ZONE`."""
    return now.astimezone(ZONE).date()
